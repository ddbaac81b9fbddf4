import {
  bridgeMark,
  type Config,
  clusterCidrs,
  type LinkInfo,
  NODE_UNDERLAY_IF,
  type NodeNames,
  type NodeRecord,
  type NodeRoute,
  type NodeView,
  nodeMasqRules,
  nodeRoutes,
  parseCidr,
  routesPresent,
} from '@cni-demo/core';

/**
 * What to tell `ip -batch` so a node is complete, from what it has now (nothing, for a namespace just made):
 * pure, so a rerun after a kill at any point adds exactly what is missing and a rerun after success adds nothing.
 */

/** The record nodes.json keeps of one node (netns mode). */
export function nodeRecord(c: Config, n: NodeNames): NodeRecord {
  return {
    index: n.index,
    name: n.name,
    pin: n.pin,
    hostVeth: n.hostVeth,
    underlayIf: NODE_UNDERLAY_IF,
    underlay4: n.underlay4,
    underlay6: n.underlay6,
    subnet4: n.subnet4,
    gateway4: n.gateway4,
    subnet6: n.subnet6,
    gateway6: n.gateway6,
    bridge: c.bridge,
    routes: nodeRoutes(c, n.index),
  };
}

const has = (l: LinkInfo | undefined, addr: string) =>
  Boolean(l?.addrs.some((a) => `${a.local}/${a.prefixlen}`.toLowerCase() === addr.toLowerCase()));

/**
 * The batch that completes node `n` inside its namespace. `hostNs` is the namespace the underlay veth's other end
 * goes to (this process's, as a path). The underlay and the bridge's IPv6 addresses skip duplicate address
 * detection: the namespace is ours, and they must answer at once.
 */
export function nodeBatch(c: Config, n: NodeRecord, view: NodeView | undefined, hostNs: string): string[] {
  const mark = bridgeMark(c.id);
  const find = (name: string) => view?.links.find((l) => l.ifname === name);
  const lo = find('lo');
  const ul = find(n.underlayIf);
  const br = find(n.bridge);
  const ulen = parseCidr(c.underlaySubnet)?.bits ?? 24;
  const len = (cidr: string) => cidr.split('/')[1];
  const lines: string[] = [];
  if (!lo?.up) lines.push('link set dev lo up');
  if (lo?.alias !== mark) lines.push(`link set dev lo alias ${mark}`);
  if (!ul) lines.push(`link add ${n.underlayIf} type veth peer name ${n.hostVeth} netns ${hostNs}`);
  if (!has(ul, `${n.underlay4}/${ulen}`)) lines.push(`addr add ${n.underlay4}/${ulen} dev ${n.underlayIf}`);
  if (!has(ul, `${n.underlay6}/64`)) lines.push(`addr add ${n.underlay6}/64 dev ${n.underlayIf} nodad`);
  if (!ul?.up) lines.push(`link set dev ${n.underlayIf} up`);
  if (!br) lines.push(`link add name ${n.bridge} type bridge`);
  if (!has(br, `${n.gateway4}/${len(n.subnet4)}`)) lines.push(`addr add ${n.gateway4}/${len(n.subnet4)} dev ${n.bridge}`);
  if (!has(br, `${n.gateway6}/${len(n.subnet6)}`)) lines.push(`addr add ${n.gateway6}/${len(n.subnet6)} dev ${n.bridge} nodad`);
  if (!br?.up) lines.push(`link set dev ${n.bridge} up`);
  if (br?.alias !== mark) lines.push(`link set dev ${n.bridge} alias ${mark}`);
  return lines;
}

/** The routes a node still lacks, as `ip -batch` lines (IPv6 via the other node's link-local, on the underlay link). */
export function routeBatch(n: Pick<NodeRecord, 'routes' | 'underlayIf'>, table: NodeView['routes'] = []): string[] {
  const present = new Set(routesPresent(table, n.routes));
  return n.routes.filter((r) => !present.has(r)).map((r) => `route replace ${r.dst} via ${r.via} dev ${n.underlayIf}`);
}

/** A node's masquerade rules by tool: RETURN towards the cluster's pod subnets, MASQUERADE beyond them. */
export function masqRules(c: Config, subnets: Pick<NodeRecord, 'subnet4' | 'subnet6'>): { iptables: string[][]; ip6tables: string[][] } {
  const cluster = clusterCidrs(c);
  return {
    iptables: nodeMasqRules(c.id, 4, subnets.subnet4, cluster[4]),
    ip6tables: nodeMasqRules(c.id, 6, subnets.subnet6, cluster[6]),
  };
}

/** iptables-restore input (--noflush) that appends these rules to the nat table's POSTROUTING. */
export function restoreInput(rules: string[][]): string {
  const quote = (a: string) => (/[\s"]/.test(a) ? `"${a.replace(/"/g, '\\"')}"` : a);
  return ['*nat', ...rules.map((r) => `-A POSTROUTING ${r.map(quote).join(' ')}`), 'COMMIT', ''].join('\n');
}

export type { NodeRoute };
