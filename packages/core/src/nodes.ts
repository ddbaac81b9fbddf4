import path from 'node:path';
import type { Config } from './config/schema.js';
import { bigIntToIp, ipToBigInt, type Prefix, parseCidr, prefixesOverlap, prefixSize } from './net.js';

/**
 * Several nodes, derived from the config like every other name (names.ts): which nodes there are, their pod
 * subnets, underlay addresses, netns pins and folders, the routes between them and the address each container
 * asks for. Nothing here touches the host; the nodes step makes what this describes, down and the leak audit
 * find it again from the same rules.
 *
 * The rule for pod subnets (the one the Vagrantfile always used, stated generally): node i's subnet is the
 * configured one moved up by (i-1) times its own size, for IPv4 and IPv6 alike, and so is its gateway
 * (192.168.199.0/24 -> node 2 192.168.200.0/24; fde4:8dba:82e1::/64 -> node 3 fde4:8dba:82e1:2::/64).
 */

/** Node i's underlay address is host number UNDERLAY_HOST_OFFSET + i of the underlay subnet (.11, .12, …). */
export const UNDERLAY_HOST_OFFSET = 10;
/** The node's end of its underlay veth, inside the node's network namespace. */
export const NODE_UNDERLAY_IF = 'ul0';

/**
 * single: one node, the host (today's demo). netns: every node on this machine as a network namespace joined by
 * an underlay bridge. vm: this machine is node `nodeIndex` of `nodes` (a VM on a private network).
 */
export type NodeMode = 'single' | 'netns' | 'vm';

export function nodeMode(c: Pick<Config, 'nodes' | 'nodeIndex'>): NodeMode {
  if (c.nodes <= 1) return 'single';
  return c.nodeIndex >= 1 ? 'vm' : 'netns';
}

const width = (p: Prefix) => (p.family === 4 ? 32 : 128);
const MAX = (p: Prefix) => (1n << BigInt(width(p))) - 1n;

/** The prefix moved up by `by` times its own size (network form); undefined when it leaves the address space. */
export function shiftPrefix(cidr: string, by: number): string | undefined {
  const p = parseCidr(cidr);
  if (!p) return undefined;
  const base = p.base + BigInt(by) * prefixSize(p);
  if (base + prefixSize(p) - 1n > MAX(p)) return undefined;
  return `${bigIntToIp(base, p.family)}/${p.bits}`;
}

/** An address moved up by `by` times the size of `cidr` (a gateway follows its subnet). */
export function shiftAddress(addr: string, cidr: string, by: number): string {
  const p = parseCidr(cidr);
  const a = ipToBigInt(addr);
  if (!p || !a) return addr;
  return bigIntToIp(a.value + BigInt(by) * prefixSize(p), p.family);
}

export interface NodeSubnets {
  subnet4: string;
  gateway4: string;
  subnet6: string;
  gateway6: string;
}

/** Node i's pod subnets and gateways (node 1 keeps the configured ones). */
export function nodeSubnets(c: Pick<Config, 'subnet4' | 'gateway4' | 'subnet6' | 'gateway6'>, i: number): NodeSubnets {
  const by = i - 1;
  return {
    subnet4: shiftPrefix(c.subnet4, by) ?? c.subnet4,
    gateway4: shiftAddress(c.gateway4, c.subnet4, by),
    subnet6: shiftPrefix(c.subnet6, by) ?? c.subnet6,
    gateway6: shiftAddress(c.gateway6, c.subnet6, by),
  };
}

/** The config as node i sees it: its own pod subnets and gateways, everything else the same. */
export function nodeConfig(c: Config, i: number): Config {
  return { ...c, ...nodeSubnets(c, i) };
}

/** The config for what this machine runs itself: node `nodeIndex`'s subnets on a VM, the config as given otherwise. */
export function localConfig(c: Config): Config {
  return nodeMode(c) === 'vm' ? nodeConfig(c, c.nodeIndex) : c;
}

/** Node i's underlay address (IPv4): host number 10 + i of the underlay subnet. */
export function underlayAddress(c: Pick<Config, 'underlaySubnet'>, i: number): string {
  const p = parseCidr(c.underlaySubnet);
  if (!p) return '';
  return bigIntToIp(p.base + BigInt(UNDERLAY_HOST_OFFSET + i), p.family);
}

/**
 * The IPv6 next hop that goes with an underlay address: the kernel takes no IPv4 gateway for an IPv6 route, so
 * each node's underlay interface also carries a link-local address made from its IPv4 one (10.0.0.11 ->
 * fe80::a00:b), derived like everything else, so no node needs another's to be known first.
 */
export function underlayLinkLocal(underlay4: string): string {
  const v = ipToBigInt(underlay4);
  if (v?.family !== 4) return '';
  return bigIntToIp((0xfe80n << 112n) | v.value, 6);
}

export interface NodeRoute {
  family: 4 | 6;
  /** the other node's pod subnet */
  dst: string;
  /** that node's underlay address (IPv4), or its link-local twin for IPv6 */
  via: string;
  /** the node the route leads to */
  node: number;
}

/**
 * The routes node i has to every other node's pod subnets, IPv4 and IPv6, via that node's underlay address
 * (host-gw): a function of the config and the index alone, so a VM adds its routes before any other is up.
 */
export function nodeRoutes(
  c: Pick<Config, 'nodes' | 'subnet4' | 'gateway4' | 'subnet6' | 'gateway6' | 'underlaySubnet'>,
  i: number,
): NodeRoute[] {
  const out: NodeRoute[] = [];
  for (let j = 1; j <= c.nodes; j++) {
    if (j === i) continue;
    const s = nodeSubnets(c, j);
    const u4 = underlayAddress(c, j);
    out.push({ family: 4, dst: s.subnet4, via: u4, node: j });
    out.push({ family: 6, dst: s.subnet6, via: underlayLinkLocal(u4), node: j });
  }
  return out;
}

/**
 * The address container k (1-based) of a node asks for (CNI `ips` capability), so every node's containers have
 * addresses anyone can compute: the k-th address of the subnet after the network address, skipping the gateway.
 */
export function podAddress(subnet: string, gateway: string, k: number): string {
  const p = parseCidr(subnet);
  const g = ipToBigInt(gateway);
  if (!p) return '';
  const gw = g ? g.value - p.base : -1n;
  let host = BigInt(k);
  if (gw >= 1n && host >= gw) host += 1n;
  return bigIntToIp(p.base + host, p.family);
}

/** Container k's addresses on node i, as host-local is asked for them ("addr/len"). */
export function podAddresses(c: Config, i: number, k: number): { ipv4: string; ipv6: string; cidrs: string[] } {
  const s = nodeSubnets(c, i);
  const ipv4 = podAddress(s.subnet4, s.gateway4, k);
  const ipv6 = podAddress(s.subnet6, s.gateway6, k);
  const len = (cidr: string) => cidr.split('/')[1];
  return { ipv4, ipv6, cidrs: [`${ipv4}/${len(s.subnet4)}`, `${ipv6}/${len(s.subnet6)}`] };
}

/** Everything named after one node of a netns-mode instance. */
export interface NodeNames extends NodeSubnets {
  index: number;
  /** `<id>-n<i>`: the node's netns pin name */
  name: string;
  pin: string;
  /** the host end of the node's underlay veth (a port of the underlay bridge) */
  hostVeth: string;
  underlay4: string;
  underlay6: string;
  /** the node's own folder (its "disk"): its network config and its host-local lease store */
  dir: string;
  confFile: string;
  ipamDataDir: string;
  containerIds: string[];
}

/** `<id>-n<i>`. */
export const nodeName = (c: Pick<Config, 'id'>, i: number) => `${c.id}-n${i}`;

/** The host end of node i's underlay veth: `<underlayBridge>-<i>`. */
export const nodeHostVeth = (c: Pick<Config, 'underlayBridge'>, i: number) => `${c.underlayBridge}-${i}`;

/** The containers of node i in netns mode: `<id>-n<i>-1` … `<id>-n<i>-<containers>`. */
export function nodeContainerIds(c: Pick<Config, 'id' | 'containers'>, i: number): string[] {
  return Array.from({ length: Math.max(1, c.containers) }, (_, k) => `${nodeName(c, i)}-${k + 1}`);
}

/** Node i's names (netns mode). */
export function nodeNames(c: Config, i: number): NodeNames {
  const name = nodeName(c, i);
  const dir = path.join(c.stateDir, c.id, 'nodes', name);
  const underlay4 = underlayAddress(c, i);
  return {
    index: i,
    name,
    pin: path.join(c.netnsDir, name),
    hostVeth: nodeHostVeth(c, i),
    underlay4,
    underlay6: underlayLinkLocal(underlay4),
    ...nodeSubnets(c, i),
    dir,
    confFile: path.join(dir, 'net.d', `10-${c.network}.conflist`),
    ipamDataDir: path.join(dir, 'leases'),
    containerIds: nodeContainerIds(c, i),
  };
}

/** Every node of a netns-mode instance; none otherwise (a VM is one machine, the single demo is the host). */
export function nodeList(c: Config): NodeNames[] {
  if (nodeMode(c) !== 'netns') return [];
  return Array.from({ length: c.nodes }, (_, k) => nodeNames(c, k + 1));
}

/** The node (netns mode) a container id belongs to: `<id>-n<i>-<k>` -> i. */
export function nodeOfContainer(c: Pick<Config, 'id'>, containerId: string): number | undefined {
  const m = /^n(\d+)-(\d+)$/.exec(containerId.startsWith(`${c.id}-`) ? containerId.slice(c.id.length + 1) : '');
  return m ? Number(m[1]) : undefined;
}

/** True for `<id>-n<i>`: a node netns name this instance owns whatever --nodes says now. */
export function isNodeNameOf(c: Pick<Config, 'id'>, name: string): boolean {
  const prefix = `${c.id}-n`;
  return name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length));
}

/** The container k (1-based) a node-mode container id names, `<id>-n<i>-<k>` -> k. */
export function containerNumber(c: Pick<Config, 'id'>, containerId: string): number | undefined {
  const m = /^n\d+-(\d+)$/.exec(containerId.startsWith(`${c.id}-`) ? containerId.slice(c.id.length + 1) : '');
  return m ? Number(m[1]) : undefined;
}

/** The blocks node subnets must stay inside: leaving one would route another site's (or the internet's) addresses. */
const BLOCKS4 = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'];

/** The block the subnet belongs to: its private range (IPv4), its unique-local /48 (IPv6), else the whole family. */
export function enclosingBlock(cidr: string): string | undefined {
  const p = parseCidr(cidr);
  if (!p) return undefined;
  if (p.family === 4) {
    const b = BLOCKS4.find((x) => {
      const q = parseCidr(x);
      return q && prefixesOverlap(p, q) && p.bits >= q.bits;
    });
    return b ?? '0.0.0.0/0';
  }
  // fc00::/7: the first 48 bits are the site's (RFC 4193's Global ID); other addresses, the family
  if (p.base >> 121n === 0x7en && p.bits >= 48) return `${bigIntToIp((p.base >> 80n) << 80n, 6)}/48`;
  return '::/0';
}

/** How many nodes the subnets can be split into: node N's subnets must still lie in each subnet's block. */
export function maxNodes(c: Pick<Config, 'subnet4' | 'subnet6'>): number {
  let best = Number.MAX_SAFE_INTEGER;
  for (const cidr of [c.subnet4, c.subnet6]) {
    const p = parseCidr(cidr);
    const b = parseCidr(enclosingBlock(cidr) ?? '');
    if (!p || !b) continue;
    const n = (b.base + prefixSize(b) - p.base) / prefixSize(p);
    if (n < BigInt(best)) best = Number(n);
  }
  return best;
}

/** How many nodes the underlay subnet holds: host numbers 11 … up to the last but one (broadcast). */
export function underlayCapacity(underlaySubnet: string): number {
  const p = parseCidr(underlaySubnet);
  if (p?.family !== 4) return 0;
  const n = prefixSize(p) - 2n - BigInt(UNDERLAY_HOST_OFFSET);
  return n < 0n ? 0 : n > 100000n ? 100000 : Number(n);
}

/** The first node subnet (of either family) that overlaps `cidr`, with its node, or undefined. */
export function podSubnetOverlapping(c: Config, cidr: string): { node: number; subnet: string } | undefined {
  const q = parseCidr(cidr);
  if (!q) return undefined;
  for (let i = 1; i <= c.nodes; i++) {
    const s = nodeSubnets(c, i);
    for (const subnet of [s.subnet4, s.subnet6]) {
      const p = parseCidr(subnet);
      if (p && prefixesOverlap(p, q)) return { node: i, subnet };
    }
  }
  return undefined;
}

/** The smallest list of prefixes that covers [start, end) exactly. */
export function rangeToCidrs(start: bigint, end: bigint, family: 4 | 6): string[] {
  const w = family === 4 ? 32 : 128;
  const out: string[] = [];
  let a = start;
  while (a < end) {
    // the largest aligned block starting at a that does not pass end
    let bits = w;
    while (bits > 0) {
      const size = 1n << BigInt(w - bits + 1);
      if (a % size !== 0n || a + size > end) break;
      bits--;
    }
    out.push(`${bigIntToIp(a, family)}/${bits}`);
    a += 1n << BigInt(w - bits);
  }
  return out;
}

/** Every node's pod subnets together, per family, as few prefixes as cover them: what stays unmasqueraded. */
export function clusterCidrs(c: Pick<Config, 'nodes' | 'subnet4' | 'subnet6'>): { 4: string[]; 6: string[] } {
  const cover = (cidr: string) => {
    const p = parseCidr(cidr);
    if (!p) return [];
    return rangeToCidrs(p.base, p.base + BigInt(Math.max(1, c.nodes)) * prefixSize(p), p.family);
  };
  return { 4: cover(c.subnet4), 6: cover(c.subnet6) };
}
