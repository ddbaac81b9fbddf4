import { createExec, type Exec, readSysctl } from '@cni-demo/core';

/**
 * What the host looks like from the outside: links, addresses, routes, iptables rules, forwarding
 * sysctls. Two snapshots compared before a demo and after its down prove the host was left as found.
 */
export async function hostSnapshot(exec: Exec = createExec()): Promise<Record<string, string>> {
  const run = async (cmd: string, args: string[]) => (await exec(cmd, args, { allowFail: true })).stdout;
  const strip = (s: string) =>
    s
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
      .join('\n');
  return {
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
    iptables: strip(withoutEmptyTables(await run('iptables-save', []))),
    ip6tables: strip(withoutEmptyTables(await run('ip6tables-save', []))),
    sysctls: ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'].map((k) => `${k}=${readSysctl(k)}`).join('\n'),
  };
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

/** Lines that differ between two snapshots, per key, for a readable assertion message. */
export function snapshotDiff(a: Record<string, string>, b: Record<string, string>): string {
  const out: string[] = [];
  for (const k of Object.keys(a)) {
    if (a[k] === b[k]) continue;
    const la = new Set((a[k] ?? '').split('\n'));
    const lb = new Set((b[k] ?? '').split('\n'));
    for (const l of la) if (!lb.has(l)) out.push(`${k} - ${l}`);
    for (const l of lb) if (!la.has(l)) out.push(`${k} + ${l}`);
  }
  return out.join('\n');
}
