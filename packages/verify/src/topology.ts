import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  type Config,
  containerIds,
  type DnatMapping,
  dnatMappings,
  type Exec,
  IPTABLES_TOOLS,
  inMainTable,
  type LinkInfo,
  mapLimit,
  NODE_UNDERLAY_IF,
  type NetworkRead,
  nodeList,
  nodeMode,
  nodeOfContainer,
  nodeRoutes,
  type RouteInfo,
  readNetwork,
  readNode,
  readTable,
  routesPresent,
} from '@cni-demo/core';

/**
 * What was wired, read back from the kernel (ip -j on the host and inside each pinned netns, iptables-save
 * for port mappings), never from the config or the CNI result: the picture shows what exists, so a plugin
 * that did something unexpected shows up in it.
 */
export interface Iface {
  name: string;
  ifindex: number;
  kind: string | undefined;
  mac: string | undefined;
  up: boolean;
  mtu: number | undefined;
  master: string | undefined;
  /** "addr/len", global and link scope alike (link-local IPv6 is how the walkthrough's eth0 looks too) */
  addrs: string[];
  /** for a veth: the peer's ifindex (in the netns named by peerNetnsId when that is set) */
  peerIfindex: number | undefined;
  peerNetnsId: number | undefined;
}

export interface Route {
  family: 4 | 6;
  dst: string;
  gateway: string | undefined;
  dev: string | undefined;
  scope: string | undefined;
  protocol: string | undefined;
}

export interface NetnsView {
  containerId: string;
  /** the bind-mounted pin the view was read through */
  pin: string;
  interfaces: Iface[];
  routes: Route[];
}

export type PortMapping = DnatMapping;

export interface VethPair {
  containerId: string;
  hostIf: string;
  containerIf: string;
  /** how the two are joined: a veth pair (default), or a macvlan/ipvlan/vlan link on its host master */
  link?: string;
}

/** One node (netns mode), read inside its namespace. */
export interface NodeTopology {
  index: number;
  name: string;
  pin: string;
  /** every link in the node: loopback, its end of the underlay, its pod bridge, the veth host ends */
  interfaces: Iface[];
  routes: Route[];
  /** the node's pod bridge and its ports (the host ends of its containers' veths) */
  bridge: Iface | undefined;
  ports: Iface[];
  /** the node's end of its underlay veth, and the host's end (a port of the underlay bridge) */
  underlay: Iface | undefined;
  hostVeth: Iface | undefined;
}

export interface Topology {
  readAt: string;
  /** the bridge on the host (none with several nodes on this machine: each node has its own, see nodes) */
  bridge: Iface | undefined;
  /**
   * the network's links on the host: those enslaved to the bridge, the host ends of veth pairs into the
   * containers (ptp), the master a macvlan/ipvlan/vlan container link hangs on (and a --master-veth peer)
   */
  ports: Iface[];
  /** host routes through the bridge */
  hostRoutes: Route[];
  containers: NetnsView[];
  veths: VethPair[];
  mappings: PortMapping[];
  /** several nodes on this machine: the bridge on the host that joins them, and each node */
  underlay?: { bridge: Iface | undefined; ports: Iface[] };
  nodes?: NodeTopology[];
}

/** The report's view of a link (addresses as "addr/len"), from host/links.ts's reading. */
export function toIface(l: LinkInfo): Iface {
  const { ifname, ifindex, kind, mac, up, mtu, master, addrs, peerIfindex, peerNetnsId } = l;
  return {
    name: ifname,
    ifindex,
    kind,
    mac,
    up,
    mtu,
    master,
    addrs: addrs.map((a) => `${a.local}/${a.prefixlen}`),
    peerIfindex,
    peerNetnsId,
  };
}

const toRoute = ({ family, dst, gateway, dev, scope, protocol }: RouteInfo): Route => ({ family, dst, gateway, dev, scope, protocol });

/** A container's links and routes, read through its pin: one `ip -batch` process (core's readNetwork). */
export type NetnsReader = (pin: string) => Promise<NetworkRead>;

/**
 * One read per pin for a whole verify run: the checks and the topology picture look at the same netns, so they
 * share the read instead of starting their own processes (a failed read is each caller's to judge).
 */
export function sharedNetnsReader(exec: Exec): NetnsReader {
  const reads = new Map<string, Promise<NetworkRead>>();
  return (pin) => {
    let r = reads.get(pin);
    if (!r) {
      r = readNetwork(exec, { pin });
      r.catch(() => undefined);
      reads.set(pin, r);
    }
    return r;
  };
}

/**
 * Reads the instance's network as it exists now. Missing pieces (no bridge, no pin) are simply absent.
 * Every read is independent of the others, so they run at once (at most 8 netns at a time): one `ip -batch`
 * on the host, one in each pinned netns (through `read`, which a caller may share with its own checks).
 */
export async function readTopology(
  exec: Exec,
  config: Config,
  bridgeName = config.bridge,
  opts: { portMappings?: boolean; hostLinks?: string[]; read?: NetnsReader } = {},
): Promise<Topology> {
  const ids = containerIds(config);
  const pins = ids.map((id) => ({ id, pin: path.join(config.netnsDir, id) })).filter((c) => existsSync(c.pin));
  const mode = nodeMode(config);
  const read = opts.read ?? ((pin: string) => readNetwork(exec, { pin }));
  const [hostNet, containers, nat, nodeViews] = await Promise.all([
    readNetwork(exec, { allowFail: true }),
    mapLimit(pins, 8, async ({ id, pin }) => {
      // a netns that cannot be read (its pin went meanwhile) shows as empty
      const { links, routes } = await read(pin).catch(() => ({ links: [], routes: [] }) as NetworkRead);
      return { containerId: id, pin, interfaces: links.map(toIface), routes: routes.filter(inMainTable).map(toRoute) } satisfies NetnsView;
    }),
    // portmap's DNAT rules; skipped when the caller knows no portmap plugin is in the network
    opts.portMappings === false ? Promise.resolve([]) : Promise.all(IPTABLES_TOOLS.map((tool) => readTable(exec, tool, 'nat'))),
    mode === 'netns'
      ? mapLimit(nodeList(config), 8, async (n) => ({ n, view: existsSync(n.pin) ? await readNode(exec, n.pin) : undefined }))
      : Promise.resolve([]),
  ]);
  const host = hostNet.links.map(toIface);
  const hostRoutesRaw = hostNet.routes.filter(inMainTable);
  // several nodes here: no bridge of ours on the host, whatever else may carry the name
  const bridge = mode !== 'netns' && bridgeName ? host.find((l) => l.name === bridgeName) : undefined;
  const inside = containers.flatMap((c) => c.interfaces);
  // a veth's link_index names its peer's ifindex in the other namespace: a host end found from both sides
  const peerOf = (l: Iface) =>
    l.kind === 'veth' && inside.some((i) => i.kind === 'veth' && i.peerIfindex === l.ifindex && l.peerIfindex === i.ifindex);
  const ports =
    mode === 'netns'
      ? []
      : host.filter((l) => (bridge && l.master === bridgeName) || (!l.master && peerOf(l)) || opts.hostLinks?.includes(l.name));
  // a VM's routes to the other nodes' pod subnets are shown with its bridge's
  const toOthers = mode === 'vm' ? nodeRoutes(config, config.nodeIndex) : [];
  // the host's routes over the bridge (in a VM also those to the other nodes), or without one, over the
  // network's own links (ptp's /32 to each container)
  const hostRoutes = bridge
    ? hostRoutesRaw.filter((r) => r.dev === bridgeName || (mode === 'vm' && routesPresent([r], toOthers).length > 0)).map(toRoute)
    : hostRoutesRaw.filter((r) => ports.some((p) => p.name === r.dev)).map(toRoute);

  const nodes: NodeTopology[] = nodeViews
    .filter((x) => x.view)
    .map(({ n, view }) => {
      const ifs = (view?.links ?? []).map(toIface);
      const nodeBridge = ifs.find((l) => l.name === config.bridge && l.kind === 'bridge');
      const underlay = ifs.find((l) => l.name === NODE_UNDERLAY_IF);
      return {
        index: n.index,
        name: n.name,
        pin: n.pin,
        interfaces: ifs,
        routes: (view?.routes ?? []).filter((r) => r.table === undefined || r.table === 'main').map(toRoute),
        bridge: nodeBridge,
        ports: nodeBridge ? ifs.filter((l) => l.master === config.bridge) : [],
        underlay,
        hostVeth: host.find((h) => h.name === n.hostVeth),
      };
    });
  const underlayBridge = host.find((l) => l.name === config.underlayBridge && l.kind === 'bridge');
  const underlay =
    mode === 'netns'
      ? { bridge: underlayBridge, ports: underlayBridge ? host.filter((l) => l.master === config.underlayBridge) : [] }
      : undefined;

  const veths: VethPair[] = [];
  for (const c of containers) {
    // a container's host end is on the host's bridge, or (several nodes) on its node's bridge
    const node = nodeOfContainer(config, c.containerId);
    const candidates = mode === 'netns' ? (nodes.find((x) => x.index === node)?.ports ?? []) : ports;
    for (const i of c.interfaces) {
      // a veth's link_index names its peer's ifindex in the other namespace
      const hostEnd = i.kind === 'veth' ? candidates.find((p) => p.ifindex === i.peerIfindex && p.peerIfindex === i.ifindex) : undefined;
      if (hostEnd) veths.push({ containerId: c.containerId, hostIf: hostEnd.name, containerIf: i.name });
      // a macvlan/ipvlan/vlan link's link_index is its master's ifindex on the host
      const master = i.kind && ['macvlan', 'ipvlan', 'vlan'].includes(i.kind) ? ports.find((p) => p.ifindex === i.peerIfindex) : undefined;
      if (master) veths.push({ containerId: c.containerId, hostIf: master.name, containerIf: i.name, link: `${i.kind} on` });
    }
  }

  const mappings: PortMapping[] = [];
  const ours = new Set(containers.flatMap((c) => c.interfaces.flatMap((i) => i.addrs.map((a) => a.split('/')[0]))));
  const idSet = new Set(ids);
  for (const rs of nat) {
    for (const m of rs ? dnatMappings(rs) : []) {
      if ((m.containerId && idSet.has(m.containerId)) || ours.has(m.containerIp)) mappings.push(m);
    }
  }
  return {
    readAt: new Date().toISOString(),
    bridge,
    ports,
    hostRoutes,
    containers,
    veths,
    mappings,
    ...(underlay ? { underlay, nodes } : {}),
  };
}
