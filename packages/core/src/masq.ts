import type { Exec } from './exec.js';

/**
 * The bridge plugin's ipMasq makes one NAT chain per attachment (CNI-<hash>) and a POSTROUTING rule that
 * jumps to it, all commented `name: "<network>" id: "<container id>"`. Its DEL removes them only when it
 * can still read the container's address from the netns; with an empty or vanished netns they stay
 * (containernetworking/plugins issue 810). We find them by that comment, in iptables and ip6tables.
 */
export interface MasqChain {
  tool: 'iptables' | 'ip6tables';
  chain: string;
  /** the POSTROUTING rules jumping to it, as iptables-save prints them */
  jumps: string[];
}

const TOOLS = ['iptables', 'ip6tables'] as const;

/** The exact comment text, so id "a" never matches id "a-1". */
export function masqComment(network: string, id: string): string {
  return `name: "${network}" id: "${id}"`;
}

/** iptables-save escapes the comment's quotes inside its own double quotes. */
function savedComment(network: string, id: string): string {
  return `--comment "${masqComment(network, id).replaceAll('"', '\\"')}"`;
}

/** Pure: the masquerade chains of these attachments in one iptables-save -t nat text. */
export function parseMasqChains(saveText: string, network: string, ids: readonly string[]): { chain: string; jumps: string[] }[] {
  const lines = saveText.split('\n');
  const wanted = ids.map((id) => savedComment(network, id));
  const chains = new Map<string, string[]>();
  for (const line of lines) {
    if (!wanted.some((w) => line.includes(w))) continue;
    const jump = /^-A POSTROUTING .*-j (CNI-[0-9a-f]+)\s*$/.exec(line);
    const own = /^-A (CNI-[0-9a-f]+) /.exec(line);
    const chain = jump?.[1] ?? own?.[1];
    if (!chain) continue;
    if (!chains.has(chain)) chains.set(chain, []);
    if (jump) chains.get(chain)?.push(line);
  }
  // a chain whose jump carried no comment (older plugins) is still found by its own rules' comments
  for (const [chain, jumps] of chains) {
    if (jumps.length > 0) continue;
    for (const line of lines) if (line.startsWith('-A POSTROUTING') && new RegExp(`-j ${chain}\\s*$`).test(line)) jumps.push(line);
  }
  return [...chains].map(([chain, jumps]) => ({ chain, jumps }));
}

export async function findMasqChains(exec: Exec, network: string, ids: readonly string[]): Promise<MasqChain[]> {
  const saves = await Promise.all(TOOLS.map((tool) => exec(`${tool}-save`, ['-t', 'nat'], { allowFail: true })));
  const out: MasqChain[] = [];
  for (const [i, tool] of TOOLS.entries()) {
    const save = saves[i];
    if (save?.exitCode !== 0) continue;
    for (const c of parseMasqChains(save.stdout, network, ids)) out.push({ tool, ...c });
  }
  return out;
}

/** Removes the leaked chains and the jumps to them; returns what it removed. Idempotent. */
export async function removeMasqChains(exec: Exec, network: string, ids: readonly string[]): Promise<MasqChain[]> {
  const found = await findMasqChains(exec, network, ids);
  if (found.length === 0) return found;
  for (const c of found) {
    for (const r of c.jumps) await exec(c.tool, ['-w', '-t', 'nat', ...splitRule(r.replace(/^-A /, '-D '))], { allowFail: true });
    await exec(c.tool, ['-w', '-t', 'nat', '-F', c.chain], { allowFail: true });
    await exec(c.tool, ['-w', '-t', 'nat', '-X', c.chain], { allowFail: true });
  }
  const left = await findMasqChains(exec, network, ids);
  if (left.length > 0) {
    throw new Error(`could not remove masquerade chains ${left.map((c) => `${c.tool}:${c.chain}`).join(', ')}`);
  }
  return found;
}

/** Splits an iptables-save rule line into argv, honouring double quotes and their escapes. */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : (m[2] ?? ''));
  return out;
}
