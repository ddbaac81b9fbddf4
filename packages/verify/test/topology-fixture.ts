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
