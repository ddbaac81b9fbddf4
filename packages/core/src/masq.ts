import type { Exec } from './exec.js';
import { findMasqChains, type MasqChain } from './host/iptables.js';

/**
 * Removes the bridge plugin's leaked masquerade chains of these attachments and the jumps to them (found by
 * host/iptables.ts); returns what it removed. Idempotent.
 */
export async function removeMasqChains(exec: Exec, network: string, ids: readonly string[]): Promise<MasqChain[]> {
  const found = await findMasqChains(exec, network, ids);
  if (found.length === 0) return found;
  for (const c of found) {
    for (const r of c.jumps) await exec(c.tool, ['-w', '-t', 'nat', '-D', r.chain, ...r.args], { allowFail: true });
    await exec(c.tool, ['-w', '-t', 'nat', '-F', c.chain], { allowFail: true });
    await exec(c.tool, ['-w', '-t', 'nat', '-X', c.chain], { allowFail: true });
  }
  const left = await findMasqChains(exec, network, ids);
  if (left.length > 0) {
    throw new Error(`could not remove masquerade chains ${left.map((c) => `${c.tool}:${c.chain}`).join(', ')}`);
  }
  return found;
}
