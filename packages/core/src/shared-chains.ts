import type { Exec } from './exec.js';
import { IPTABLES_TOOLS, readTable, ruleArg, SHARED_CHAINS } from './host/iptables.js';

/**
 * The firewall plugin's chain reserved for administrators' rules (its README: "CNI-ADMIN ... for the
 * administrator to add rules"). The plugins never write into it, so every rule in it is an administrator's.
 */
export const ADMIN_CHAIN = 'CNI-ADMIN';

/**
 * Removes the shared chains the demo's plugins made (not those found before it, listed in `before` as
 * host/iptables.ts's sharedChainsWith names them), once no container's rule is left in them: first the jumps
 * into them from the built-in chains, then the plugins' own rules in them, one by one, then the chains.
 * Nothing is ever flushed: CNI-ADMIN, even when it was made during the demo, may hold an administrator's
 * rules by now; then it stays, and so does the path to it (FORWARD -> CNI-FORWARD -> CNI-ADMIN), listed in
 * `kept`. An empty CNI-ADMIN goes with the rest.
 */
export async function removeSharedChainsWith(exec: Exec, before: string[], kept: string[] = []): Promise<string[]> {
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
          : rs.rules.some((r) => r.chain === 'CNI-FORWARD' && ruleArg(r, '-j') !== ADMIN_CHAIN);
      if (inUse) continue;
      if (rs.rules.some((r) => r.chain === ADMIN_CHAIN)) {
        kept.push(...present.map((c) => `${tool} ${table} ${c}`));
        continue;
      }
      for (const r of rs.rules) {
        if (present.includes(ruleArg(r, '-j') ?? '') && !present.includes(r.chain)) {
          await exec(tool, ['-t', table, '-D', r.chain, ...r.args], { allowFail: true });
        }
      }
      for (const r of rs.rules) {
        if (present.includes(r.chain) && r.chain !== ADMIN_CHAIN)
          await exec(tool, ['-t', table, '-D', r.chain, ...r.args], { allowFail: true });
      }
      for (const c of present) {
        // -X removes only an empty chain nothing jumps to: CNI-ADMIN goes only when it is empty
        const r = await exec(tool, ['-t', table, '-X', c], { allowFail: true });
        if (r.exitCode === 0) removed.push(`${tool} ${table} ${c}`);
      }
    }
  }
  return removed;
}
