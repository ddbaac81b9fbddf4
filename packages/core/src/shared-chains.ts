import type { Exec } from './exec.js';
import { splitRule } from './masq.js';

/** The portmap and firewall plugins' shared chains: made on first use, never deleted by the plugins. */
export const SHARED_CHAINS: Record<'nat' | 'filter', string[]> = {
  nat: ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'],
  filter: ['CNI-FORWARD', 'CNI-ADMIN'],
};
const TOOLS = ['iptables', 'ip6tables'] as const;

/** Which shared chains exist now, as "<tool> <table> <chain>". */
export async function sharedChainsWith(exec: Exec): Promise<string[]> {
  const out: string[] = [];
  for (const tool of TOOLS) {
    for (const table of ['nat', 'filter'] as const) {
      const r = await exec(`${tool}-save`, ['-t', table], { allowFail: true });
      for (const chain of SHARED_CHAINS[table]) if (new RegExp(`^:${chain} `, 'm').test(r.stdout)) out.push(`${tool} ${table} ${chain}`);
    }
  }
  return out;
}

/**
 * Removes the shared chains the demo's plugins made (not those found before it), once no container's
 * rule is left in them: first the jumps into them from the built-in chains, then the chains.
 */
export async function removeSharedChainsWith(exec: Exec, before: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const tool of TOOLS) {
    for (const table of ['nat', 'filter'] as const) {
      const mine = SHARED_CHAINS[table].filter((c) => !before.includes(`${tool} ${table} ${c}`));
      if (mine.length === 0) continue;
      const save = (await exec(`${tool}-save`, ['-t', table], { allowFail: true })).stdout.split('\n');
      const present = mine.filter((c) => save.some((l) => l.startsWith(`:${c} `)));
      if (present.length === 0) continue;
      // per-container rules still there (another instance of the demo): the chains stay
      const inUse =
        table === 'nat'
          ? save.some((l) => l.startsWith('-A CNI-HOSTPORT-DNAT '))
          : save.some((l) => l.startsWith('-A CNI-FORWARD ') && !l.includes('-j CNI-ADMIN'));
      if (inUse) continue;
      for (const l of save) {
        const m = /^-A (\S+) (.*)-j (\S+)\s*$/.exec(l);
        if (!m || !present.includes(m[3] ?? '') || present.includes(m[1] ?? '')) continue;
        await exec(tool, ['-t', table, ...splitRule(l.replace(/^-A /, '-D '))], { allowFail: true });
      }
      for (const c of present) await exec(tool, ['-t', table, '-F', c], { allowFail: true });
      for (const c of present) {
        const r = await exec(tool, ['-t', table, '-X', c], { allowFail: true });
        if (r.exitCode === 0) removed.push(`${tool} ${table} ${c}`);
      }
    }
  }
  return removed;
}
