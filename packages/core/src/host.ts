import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Exec } from './exec.js';

/** Read-only views of the host's network state, through `ip -j`, so every step sees the kernel's truth. */
export interface LinkInfo {
  ifname: string;
  ifindex: number;
  kind: string | undefined;
  master: string | undefined;
  up: boolean;
  addrs: { family: 4 | 6; local: string; prefixlen: number; scope: string }[];
}

interface IpLinkJson {
  ifname: string;
  ifindex: number;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

function toLink(j: IpLinkJson): LinkInfo {
  return {
    ifname: j.ifname,
    ifindex: j.ifindex,
    kind: j.linkinfo?.info_kind,
    master: j.master,
    up: (j.flags ?? []).includes('UP'),
    addrs: (j.addr_info ?? []).map((a) => ({
      family: a.family === 'inet6' ? 6 : 4,
      local: a.local,
      prefixlen: a.prefixlen,
      scope: a.scope,
    })),
  };
}

/** One link with its kind and addresses, or undefined when no link has that name. */
export async function getLink(exec: Exec, name: string, netns?: string): Promise<LinkInfo | undefined> {
  const pre = netns ? ['-n', netns] : [];
  const r = await exec('ip', [...pre, '-j', '-d', 'addr', 'show', 'dev', name], { allowFail: true });
  if (r.exitCode !== 0) return undefined;
  const list = JSON.parse(r.stdout || '[]') as IpLinkJson[];
  return list[0] ? toLink(list[0]) : undefined;
}

/**
 * The ports of bridge `name` read from sysfs (/sys/class/net/<name>/brif), without starting a process;
 * undefined when there is no link of that name or it is not a bridge. Host namespace only.
 */
export function bridgePorts(name: string, sysNet = '/sys/class/net'): string[] | undefined {
  const dir = path.join(sysNet, name);
  if (!existsSync(path.join(dir, 'bridge'))) return undefined;
  try {
    return readdirSync(path.join(dir, 'brif')).sort();
  } catch {
    return undefined;
  }
}

export async function listLinks(exec: Exec, netns?: string): Promise<LinkInfo[]> {
  const pre = netns ? ['-n', netns] : [];
  const r = await exec('ip', [...pre, '-j', '-d', 'addr', 'show']);
  return (JSON.parse(r.stdout || '[]') as IpLinkJson[]).map(toLink);
}

export interface RouteInfo {
  family: 4 | 6;
  dst: string;
  dev: string | undefined;
  gateway: string | undefined;
  table: string | undefined;
  type: string | undefined;
}

export async function listRoutes(exec: Exec, netns?: string): Promise<RouteInfo[]> {
  const pre = netns ? ['-n', netns] : [];
  const families = [4, 6] as const;
  const read = await Promise.all(families.map((family) => exec('ip', [...pre, `-${family}`, '-j', 'route', 'show', 'table', 'all'])));
  const out: RouteInfo[] = [];
  for (const [i, family] of families.entries()) {
    for (const j of JSON.parse(read[i]?.stdout || '[]') as Record<string, string>[]) {
      out.push({ family, dst: j.dst ?? '', dev: j.dev, gateway: j.gateway, table: j.table, type: j.type });
    }
  }
  return out;
}

/** sysctl by /proc path, so no sysctl binary is needed. */
export function readSysctl(key: string): string | undefined {
  const file = `/proc/sys/${key.replaceAll('.', '/')}`;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

export function writeSysctl(key: string, value: string): void {
  writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
}
