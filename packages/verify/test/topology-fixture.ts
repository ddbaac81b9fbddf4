import type { Iface, Topology } from '../src/topology.js';

/** A topology with every kind of object, and names with characters XML and Mermaid must escape. */
export const iface = (name: string, kind: string | undefined, addrs: string[], extra: Partial<Iface> = {}): Iface => ({
  name,
  ifindex: 1,
  kind,
  mac: '02:42:ac:11:00:02',
  up: true,
  mtu: 1500,
  master: undefined,
  addrs,
  peerIfindex: undefined,
  peerNetnsId: undefined,
  ...extra,
});

export function topo(): Topology {
  return {
    readAt: '2026-01-01T00:00:00.000Z',
    bridge: iface('cbr<&>"x', 'bridge', ['10.9.0.1/24', 'fd00::1/64']),
    ports: [iface('veth1a2b', 'veth', [], { master: 'cbr<&>"x' }), iface('vethorphan', 'veth', [])],
    hostRoutes: [{ family: 4, dst: '10.9.0.0/24', gateway: undefined, dev: 'cbr<&>"x', scope: 'link', protocol: 'kernel' }],
    containers: [
      {
        containerId: "c'1",
        pin: '/var/run/netns/c1',
        interfaces: [iface('lo', undefined, ['127.0.0.1/8']), iface('eth0', 'veth', ['10.9.0.2/24'])],
        routes: [{ family: 4, dst: 'default', gateway: '10.9.0.1', dev: 'eth0', scope: undefined, protocol: undefined }],
      },
    ],
    veths: [{ containerId: "c'1", hostIf: 'veth1a2b', containerIf: 'eth0' }],
    mappings: [
      {
        protocol: 'tcp',
        hostIp: undefined,
        hostPort: 8080,
        containerIp: '10.9.0.2',
        containerPort: 80,
        chain: 'CNI-DN-abc',
        containerId: "c'1",
      },
    ],
  };
}

/** Two nodes on one machine: the underlay, each node read inside it, a container on each. */
export function nodesTopo(): Topology {
  const node = (i: number) => ({
    index: i,
    name: `lab-n${i}`,
    pin: `/run/x/netns/lab-n${i}`,
    interfaces: [
      iface('lo', undefined, ['127.0.0.1/8']),
      iface('ul0', 'veth', [`10.5.0.${10 + i}/24`, `fe80::a05:${(10 + i).toString(16)}/64`]),
      iface('br<0>', 'bridge', [`10.6.${i - 1}.1/24`]),
      iface(`veth${i}`, 'veth', [], { master: 'br<0>', ifindex: 10 + i, peerIfindex: 2 }),
    ],
    routes: [
      { family: 4 as const, dst: `10.6.${2 - i}.0/24`, gateway: `10.5.0.${13 - i}`, dev: 'ul0', scope: undefined, protocol: undefined },
    ],
    bridge: iface('br<0>', 'bridge', [`10.6.${i - 1}.1/24`]),
    ports: [iface(`veth${i}`, 'veth', [], { master: 'br<0>', ifindex: 10 + i, peerIfindex: 2 })],
    underlay: iface('ul0', 'veth', [`10.5.0.${10 + i}/24`]),
    hostVeth: iface(`ul9-${i}`, 'veth', [], { master: 'ul9' }),
  });
  return {
    readAt: '',
    bridge: undefined,
    ports: [],
    hostRoutes: [],
    containers: [1, 2].map((i) => ({
      containerId: `lab-n${i}-1`,
      pin: `/run/x/netns/lab-n${i}-1`,
      interfaces: [iface('eth0', 'veth', [`10.6.${i - 1}.2/24`], { ifindex: 2, peerIfindex: 10 + i })],
      routes: [],
    })),
    veths: [1, 2].map((i) => ({ containerId: `lab-n${i}-1`, hostIf: `veth${i}`, containerIf: 'eth0' })),
    mappings: [],
    underlay: { bridge: iface('ul9', 'bridge', []), ports: [1, 2].map((i) => iface(`ul9-${i}`, 'veth', [], { master: 'ul9' })) },
    nodes: [node(1), node(2)],
  };
}
