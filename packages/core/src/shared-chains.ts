import type { Exec } from './exec.js';
import { IPTABLES_TOOLS, readTable, ruleArg, SHARED_CHAINS } from './host/iptables.js';

/**
 * Removes the shared chains the demo's plugins made (not those found before it, listed in `before` as
 * host/iptables.ts's sharedChainsWith names them), once no container's rule is left in them: first the jumps
 * into them from the built-in chains, then the chains.
 */
export async function removeSharedChainsWith(exec: Exec, before: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const tool of IPTABLES_TOOLS) {
    for (const table of ['nat', 'filter'] as const) {
      const mine = SHARED_CHAINS[table].filter((c) => !before.includes(`${tool} ${table} ${c}`));
      if (mine.length === 0) continue;
      const rs = await readTable(exec, tool, table);
      const present = mine.filter((c) => rs?.chains.has(c));
      if (!rs || present.length === 0) continue;
      // per-container rules still there (another instance of the demo): the chains stay
      const inUse =
        table === 'nat'
          ? rs.rules.some((r) => r.chain === 'CNI-HOSTPORT-DNAT')
          : rs.rules.some((r) => r.chain === 'CNI-FORWARD' && ruleArg(r, '-j') !== 'CNI-ADMIN');
      if (inUse) continue;
      for (const r of rs.rules) {
        if (present.includes(ruleArg(r, '-j') ?? '') && !present.includes(r.chain)) {
          await exec(tool, ['-t', table, '-D', r.chain, ...r.args], { allowFail: true });
        }
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
