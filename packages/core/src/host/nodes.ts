import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { Exec } from '../exec.js';
import { isNodeNameOf, type NodeRoute } from '../nodes.js';
import { inMainTable, linkAlias, type LinkInfo, netdevNames, type RouteInfo, readNetwork } from './links.js';
import { linkMark } from './marks.js';
import { isMountPoint } from './mounts.js';

/**
 * Nodes as the kernel has them: their pinned namespaces, what is inside (links, routes), the underlay veths on
 * the host and the routes between nodes. Each made object carries the instance's mark (the alias `cni-demo:<id>`,
 * as the bridge does): a node on its loopback, the underlay bridge and its veths on themselves.
 */

/** The node pins of this instance found in the netns folder (`<id>-n<i>`, whatever --nodes says now), by index. */
export function nodePinsIn(c: Pick<Config, 'id' | 'netnsDir'>): string[] {
  let names: string[];
  try {
    names = readdirSync(c.netnsDir);
  } catch {
    return [];
  }
  const index = (n: string) => Number(n.slice(c.id.length + 2));
  return names
    .filter((n) => isNodeNameOf(c, n))
    .sort((a, b) => index(a) - index(b))
    .map((n) => path.join(c.netnsDir, n));
}

export interface NodeView {
  links: LinkInfo[];
  routes: RouteInfo[];
}

/** A node's links (with details and addresses) and routes, read inside it; undefined when nothing is pinned there. */
export async function readNode(exec: Exec, pin: string): Promise<NodeView | undefined> {
  if (!isMountPoint(pin)) return undefined;
  // links and the main table's routes, in one ip process
  const { links, routes } = await readNetwork(exec, { pin, allowFail: true });
  return { links, routes: routes.filter(inMainTable) };
}

/** True when the node's loopback carries this instance's mark: the namespace was made by it. */
export const isMarkedNode = (view: NodeView | undefined, id: string) => view?.links.find((l) => l.ifname === 'lo')?.alias === linkMark(id);

/** The wanted routes a table has: same destination and next hop (dev not compared: a VM names its own). */
export function routesPresent(table: readonly RouteInfo[], wanted: readonly NodeRoute[]): NodeRoute[] {
  const key = (dst: string, via: string | undefined) => `${dst} ${via ?? ''}`.toLowerCase();
  const have = new Set(table.map((r) => key(r.dst, r.gateway)));
  return wanted.filter((w) => have.has(key(w.dst, w.via)));
}

/** The interface that carries `addr` (a VM's private-network interface carrying its underlay address). */
export function linkWithAddress(links: readonly LinkInfo[], addr: string): LinkInfo | undefined {
  return links.find((l) => l.addrs.some((a) => a.local.toLowerCase() === addr.toLowerCase()));
}

/** The underlay veths of this instance on the host (`<underlayBridge>-<i>` carrying its mark), whatever --nodes says now. */
export function markedUnderlayVeths(c: Pick<Config, 'id' | 'underlayBridge'>, sysNet = '/sys/class/net'): string[] {
  let names: string[];
  try {
    names = sysNet === '/sys/class/net' ? (netdevNames() ?? readdirSync(sysNet)) : readdirSync(sysNet);
  } catch {
    return [];
  }
  const prefix = `${c.underlayBridge}-`;
  const index = (n: string) => Number(n.slice(prefix.length));
  return names
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)) && linkAlias(n, sysNet) === linkMark(c.id))
    .sort((a, b) => index(a) - index(b));
}
