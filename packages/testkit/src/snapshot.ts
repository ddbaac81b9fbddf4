import { readdirSync } from 'node:fs';
import path from 'node:path';
import { type Config, createExec, type Exec, FORWARDING_SYSCTLS, mountPoints, readSysctl, realMountPath } from '@cni-demo/core';

/**
 * What the host looks like from the outside: links (ifb devices among them), addresses, routes, iptables
 * rules per table, the forwarding and `net.bridge.*` sysctls, mount points and, given an instance's config,
 * every file and folder under its conf, CNI cache, IPAM and state folders. Two snapshots compared before a
 * demo and after its down prove the host was left as found (ownSnapshotDiff keeps what the instance could
 * have touched).
 */
export type HostSnapshot = Record<string, string>;

export async function hostSnapshot(exec: Exec = createExec(), config?: Config): Promise<HostSnapshot> {
  const run = async (cmd: string, args: string[]) => (await exec(cmd, args, { allowFail: true })).stdout;
  const snap: HostSnapshot = {
    links: (await run('ip', ['-o', 'link', 'show']))
      .split('\n')
      .map((l) => l.replace(/^\d+: /, '').replace(/\s+link\/.*$/, ''))
      .sort()
      .join('\n'),
    addrs: (await run('ip', ['-o', 'addr', 'show']))
      .split('\n')
      .map((l) => l.replace(/^\d+: /, '').replace(/valid_lft.*$/, ''))
      .sort()
      .join('\n'),
    routes4: await run('ip', ['-4', 'route', 'show', 'table', 'all']),
    routes6: (await run('ip', ['-6', 'route', 'show', 'table', 'all']))
      .split('\n')
      .filter((l) => !/expires/.test(l))
      .join('\n'),
    iptables: byTable(withoutEmptyTables(await run('iptables-save', []))),
    ip6tables: byTable(withoutEmptyTables(await run('ip6tables-save', []))),
    sysctls: sysctls().join('\n'),
    mounts: '',
  };
  // with a config, only the mounts under its roots: a private mount namespace still sees the host's come and go
  const roots = config ? instanceRoots(config) : undefined;
  snap.mounts = [...new Set(mountPoints())]
    .filter((m) => !roots || roots.some((r) => m === r || m.startsWith(`${r}/`)))
    .sort()
    .join('\n');
  if (config) snap.files = instanceFolders(config).flatMap(listTree).sort().join('\n');
  return snap;
}

/** The forwarding sysctls and every `net.bridge.*` one (there only while br_netfilter is loaded). */
function sysctls(): string[] {
  let bridge: string[] = [];
  try {
    bridge = readdirSync('/proc/sys/net/bridge').map((f) => `net.bridge.${f}`);
  } catch {
    /* br_netfilter not loaded: no such keys */
  }
  return [...FORWARDING_SYSCTLS, ...bridge.sort()].map((k) => `${k}=${readSysctl(k)}`);
}

/** The folders an instance writes files into, besides the image cache (kept between runs by design). */
export function instanceFolders(config: Config): string[] {
  return [config.confDir, config.cniCacheDir, config.ipamDataDir, config.stateDir, `${config.stateDir}-rootless`];
}

/** Every folder an instance makes objects under (real paths, as mountinfo names them). */
export function instanceRoots(config: Config): string[] {
  return [...instanceFolders(config), config.netnsDir, config.runcRoot, config.imageCacheDir].map((r) => realMountPath(r));
}

/** Every file and folder under `dir` (folders with a trailing /), `dir` itself included when it exists. */
function listTree(dir: string): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out = [`${dir}/`];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listTree(p));
    else out.push(p);
  }
  return out;
}

/**
 * iptables-save's lines with the table each belongs to in front (`nat -A POSTROUTING …`, `filter :FORWARD DROP`),
 * comments and packet counters dropped: the same chain name or policy line means different things in two tables.
 */
function byTable(save: string): string {
  const out: string[] = [];
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('#') || line === '' || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    out.push(`${table} ${line.replace(/\s*\[\d+:\d+\]/g, '')}`);
  }
  return out.join('\n');
}

/**
 * iptables-save lists a table once something has loaded it (the first `iptables -t nat` on a fresh machine,
 * by anyone): `*nat` with its built-in chains at policy ACCEPT and no rule. Such a table filters nothing, as
 * an unloaded one does, so it is left out: a table appearing is not a change anyone made to the rules.
 */
export function withoutEmptyTables(save: string): string {
  const out: string[] = [];
  let table: string[] | undefined;
  const flush = () => {
    if (!table) return;
    const empty = table.every((l) => !l.startsWith('-') && !/^:\S+ (?!ACCEPT )/.test(l));
    if (!empty) out.push(...table);
    table = undefined;
  };
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) {
      flush();
      table = [line];
    } else if (table) {
      table.push(line);
      if (line === 'COMMIT') flush();
    } else out.push(line);
  }
  flush();
  return out.join('\n');
}

/** Lines only in `a` and lines only in `b`, for one key. */
export function lineDiff(a = '', b = ''): { removed: string[]; added: string[] } {
  const la = new Set(a.split('\n').filter((l) => l !== ''));
  const lb = new Set(b.split('\n').filter((l) => l !== ''));
  return { removed: [...la].filter((l) => !lb.has(l)), added: [...lb].filter((l) => !la.has(l)) };
}

/** Lines that differ between two snapshots, per key (a key only one of them has counts as empty in the other). */
export function snapshotDiff(a: HostSnapshot, b: HostSnapshot): string {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const { removed, added } = lineDiff(a[k], b[k]);
    for (const l of removed) out.push(`${k} - ${l}`);
    for (const l of added) out.push(`${k} + ${l}`);
  }
  return out.join('\n');
}
