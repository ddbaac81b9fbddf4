import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Exec } from '../exec.js';
import { linkViaProc } from './mounts.js';

/**
 * Links, addresses and routes as the kernel has them: `ip -j` on the host or inside a pinned netns, and
 * sysfs for what needs no process (a link's presence, its alias, a bridge's ports), plus sysctls.
 */
export interface LinkInfo {
  ifname: string;
  ifindex: number;
  kind: string | undefined;
  master: string | undefined;
  up: boolean;
  mac: string | undefined;
  mtu: number | undefined;
  addrs: { family: 4 | 6; local: string; prefixlen: number; scope: string }[];
  /** for a veth: the peer's ifindex (in the netns named by peerNetnsId when that is set) */
  peerIfindex: number | undefined;
  peerNetnsId: number | undefined;
  /** the link's alias (`ip link set … alias`), where the demo's ownership mark goes */
  alias?: string | undefined;
}

interface IpLinkJson {
  ifname: string;
  ifindex: number;
  link_index?: number;
  link_netnsid?: number;
  address?: string;
  mtu?: number;
  master?: string;
  ifalias?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

/** Parses `ip -j [-d] addr|link show` output. */
export function parseLinks(text: string): LinkInfo[] {
  return (JSON.parse(text || '[]') as IpLinkJson[]).map((j) => ({
    ifname: j.ifname,
    ifindex: j.ifindex,
    kind: j.linkinfo?.info_kind,
    master: j.master,
    up: (j.flags ?? []).includes('UP'),
    mac: j.address,
    mtu: j.mtu,
    addrs: (j.addr_info ?? []).map((a) => ({
      family: a.family === 'inet6' ? 6 : 4,
      local: a.local,
      prefixlen: a.prefixlen,
      scope: a.scope,
    })),
    peerIfindex: j.link_index,
    peerNetnsId: j.link_netnsid,
    ...(j.ifalias !== undefined ? { alias: j.ifalias } : {}),
  }));
}

export interface RouteInfo {
  family: 4 | 6;
  dst: string;
  dev: string | undefined;
  gateway: string | undefined;
  table: string | undefined;
  type: string | undefined;
  scope: string | undefined;
  protocol: string | undefined;
}

/** Parses `ip -j -4|-6 route show` output. */
export function parseRoutes(text: string, family: 4 | 6): RouteInfo[] {
  return (JSON.parse(text || '[]') as Record<string, string | undefined>[]).map((r) => ({
    family,
    dst: r.dst ?? '',
    dev: r.dev,
    gateway: r.gateway,
    table: r.table,
    type: r.type,
    scope: r.scope,
    protocol: r.protocol,
  }));
}

export interface IpOptions {
  /** read inside the netns pinned here (nsenter: pins live wherever --netns-dir says, not only under /var/run/netns) */
  pin?: string | undefined;
  /** a failed read is an empty list instead of an error (a device or netns that is gone holds nothing) */
  allowFail?: boolean;
}

async function ipJson(exec: Exec, args: string[], o: IpOptions): Promise<string> {
  const [cmd, argv] = o.pin ? ['nsenter', [`--net=${o.pin}`, 'ip', '-j', ...args]] : ['ip', ['-j', ...args]];
  const r = await exec(cmd as string, argv as string[], { allowFail: o.allowFail ?? false });
  return r.exitCode === 0 ? r.stdout : '[]';
}

/** `ip -j <args>` (default: every link with its details and addresses), parsed. */
export async function readLinks(exec: Exec, o: IpOptions & { args?: string[] } = {}): Promise<LinkInfo[]> {
  return parseLinks(await ipJson(exec, o.args ?? ['-d', 'addr', 'show'], o));
}

/** One link with its kind and addresses, or undefined when no link has that name (host netns). */
export async function getLink(exec: Exec, name: string): Promise<LinkInfo | undefined> {
  return (await readLinks(exec, { args: ['-d', 'addr', 'show', 'dev', name], allowFail: true }))[0];
}

/** Both families' routes at once, `ip route show <filter>` (default: every table). */
export async function readRoutes(exec: Exec, o: IpOptions & { filter?: string[] } = {}): Promise<RouteInfo[]> {
  const read = await Promise.all(
    ([4, 6] as const).map((f) => ipJson(exec, [`-${f}`, 'route', 'show', ...(o.filter ?? ['table', 'all'])], o)),
  );
  return [...parseRoutes(read[0] ?? '', 4), ...parseRoutes(read[1] ?? '', 6)];
}

/** Links with details and addresses, and every route of both families in every table, read at once. */
export interface NetworkRead {
  links: LinkInfo[];
  routes: RouteInfo[];
}

const NETWORK_BATCH = ['addr show', 'route show table all root 0.0.0.0/0', 'route show table all root ::/0'];

/**
 * What `ip -j -d addr show`, `ip -j -4 route show table all` and `ip -j -6 route show table all` read, from ONE
 * `ip -j -d -batch -` process (inside the netns pinned at `pin` when given): a third of the process starts. Batch
 * lines take no -4/-6, hence the family's whole prefix as root; ip prints one JSON array per line.
 */
export async function readNetwork(exec: Exec, o: IpOptions = {}): Promise<NetworkRead> {
  const ip = ['ip', '-j', '-d', '-batch', '-'];
  const [cmd, ...argv] = o.pin ? ['nsenter', `--net=${o.pin}`, ...ip] : ip;
  const r = await exec(cmd as string, argv, { input: `${NETWORK_BATCH.join('\n')}\n`, allowFail: o.allowFail ?? false });
  if (r.exitCode !== 0) return { links: [], routes: [] };
  const arrays = r.stdout.split('\n').filter((l) => l.trim() !== '');
  if (arrays.length !== NETWORK_BATCH.length) {
    throw new Error(`ip -batch printed ${arrays.length} answers to ${NETWORK_BATCH.length} commands${o.pin ? ` in ${o.pin}` : ''}`);
  }
  const [links = '[]', v4 = '[]', v6 = '[]'] = arrays;
  return { links: parseLinks(links), routes: [...parseRoutes(v4, 4), ...parseRoutes(v6, 6)] };
}

/** A route of the main table (`ip route show` without a table): ip names no table for those. */
export const inMainTable = (r: RouteInfo) => r.table === undefined || r.table === 'main';

/**
 * The route the kernel would take to `ip` (`ip -j route get`), on the host or inside a pinned netns: its device
 * and gateway; undefined when there is none (unreachable) or the read failed.
 */
export async function routeTo(
  exec: Exec,
  ip: string,
  o: IpOptions = {},
): Promise<{ dev: string | undefined; gateway: string | undefined } | undefined> {
  const family = ip.includes(':') ? '-6' : '-4';
  const text = await ipJson(exec, [family, 'route', 'get', ip], { ...o, allowFail: true });
  const r = (JSON.parse(text || '[]') as Record<string, string>[])[0];
  return r ? { dev: r.dev, gateway: r.gateway } : undefined;
}

/** Every route of the host, every table; a failed read is an error (a check that sees no routes would pass wrongly). */
export const listRoutes = (exec: Exec) => readRoutes(exec);

const SYS_NET = '/sys/class/net';

/** The links of this process's network namespace, from /proc/self/net/dev (always this namespace's). */
export function netdevNames(): string[] | undefined {
  try {
    return readFileSync('/proc/self/net/dev', 'utf8')
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]?.trim() ?? '')
      .filter(Boolean);
  } catch {
    return undefined;
  }
}

/**
 * sysfs shows the links of the namespace it was mounted for, which is not this process's when it was started
 * with `nsenter --net` (a node's or a test's "VM"): then the link readers below ask `ip` instead. A link that
 * comes or goes between the two listings only costs the same ip call.
 */
export function sysNetIsOurs(sysNet = SYS_NET): boolean {
  if (sysNet !== SYS_NET) return true;
  const mine = netdevNames();
  if (!mine) return true;
  try {
    const sys = readdirSync(SYS_NET);
    return sys.length === mine.length && mine.every((n) => sys.includes(n));
  } catch {
    return false;
  }
}

/** `ip -j [-d] link show <args>` run synchronously (the fallback of the sysfs readers), parsed; [] when it fails. */
function ipLinksSync(args: string[]): LinkInfo[] {
  const r = spawnSync('ip', ['-j', '-d', 'link', 'show', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 10_000,
  });
  return r.status === 0 ? parseLinks(r.stdout) : [];
}

export const linkExists = (name: string, sysNet = SYS_NET) =>
  sysNet !== SYS_NET ? existsSync(path.join(sysNet, name)) : (netdevNames()?.includes(name) ?? existsSync(path.join(sysNet, name)));

/** The link's alias (where the demo's ownership mark goes), or undefined when there is no such link. */
export function linkAlias(name: string, sysNet = SYS_NET): string | undefined {
  if (!sysNetIsOurs(sysNet)) {
    const l = ipLinksSync(['dev', name])[0];
    return l ? (l.alias ?? '') : undefined;
  }
  try {
    return readFileSync(path.join(sysNet, name, 'ifalias'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The ports of bridge `name`, sorted; undefined when there is no link of that name or it is not a bridge. */
export function bridgePorts(name: string, sysNet = SYS_NET): string[] | undefined {
  if (!sysNetIsOurs(sysNet)) {
    if (ipLinksSync(['dev', name])[0]?.kind !== 'bridge') return undefined;
    return ipLinksSync(['master', name])
      .map((l) => l.ifname)
      .sort();
  }
  const dir = path.join(sysNet, name);
  if (!existsSync(path.join(dir, 'bridge'))) return undefined;
  try {
    return readdirSync(path.join(dir, 'brif')).sort();
  } catch {
    return undefined;
  }
}

/**
 * Is interface `ifname` inside the netns pinned at `pin`? With the pid of a process in that netns the answer
 * comes from /proc without a process; otherwise, or when that process is gone, from nsenter.
 */
export async function linkInNetns(exec: Exec, pin: string, ifname: string, pid?: number): Promise<boolean> {
  const viaProc = pid ? linkViaProc(pid, pin, ifname) : undefined;
  if (viaProc !== undefined) return viaProc;
  return (await exec('nsenter', [`--net=${pin}`, 'ip', 'link', 'show', 'dev', ifname], { allowFail: true })).exitCode === 0;
}

/** sysctl by /proc path, so no sysctl binary is needed. */
export function readSysctl(key: string): string | undefined {
  const file = `/proc/sys/${key.replaceAll('.', '/')}`;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}
