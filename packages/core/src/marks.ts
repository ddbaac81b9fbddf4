import type { Exec } from './exec.js';
import { splitRule } from './masq.js';

/**
 * Marks the demo leaves on host objects that have no per-instance name of their own, so down and the leak
 * audit recognise them without any state file (derived, like everything in names.ts).
 */

/** The alias of a bridge host-setup made; a bridge made by hand and adopted has none. */
export function bridgeMark(id: string): string {
  return `cni-demo:${id}`;
}

/** The comment on the opt-in FORWARD ACCEPT rules (--fix-forward). */
export function forwardComment(id: string, bridge: string): string {
  return `cni-demo id=${id} bridge=${bridge}`;
}

/** The rule specs (after the chain name) of the opt-in FORWARD fix, in and out of the bridge. */
export function forwardRules(id: string, bridge: string): string[][] {
  const comment = ['-m', 'comment', '--comment', forwardComment(id, bridge)];
  return [
    ['-i', bridge, ...comment, '-j', 'ACCEPT'],
    ['-o', bridge, ...comment, '-j', 'ACCEPT'],
  ];
}

/**
 * The FORWARD fix's rules present now, per tool, read with one `-S FORWARD` per tool (at once) instead of
 * one `-C` per rule: a rule counts when its spec after `-A FORWARD` is exactly one of forwardRules (as
 * iptables prints back what it was given). A tool that cannot list (not installed) has none.
 */
export async function presentForwardRules(
  exec: Exec,
  id: string,
  bridge: string,
): Promise<{ tool: 'iptables' | 'ip6tables'; rule: string[] }[]> {
  const tools = ['iptables', 'ip6tables'] as const;
  const wanted = forwardRules(id, bridge);
  const listed = await Promise.all(tools.map((tool) => exec(tool, ['-w', '-S', 'FORWARD'], { allowFail: true })));
  const out: { tool: 'iptables' | 'ip6tables'; rule: string[] }[] = [];
  for (const [i, tool] of tools.entries()) {
    const r = listed[i];
    if (r?.exitCode !== 0) continue;
    for (const line of r.stdout.split('\n')) {
      if (!line.startsWith('-A FORWARD ')) continue;
      const spec = splitRule(line).slice(2);
      const rule = wanted.find((w) => w.length === spec.length && w.every((x, k) => x === spec[k]));
      if (rule) out.push({ tool, rule });
    }
  }
  return out;
}
