import { type Ctx, type Exec, forwardRules, presentForwardRules } from '@cni-demo/core';

/**
 * The FORWARD chain's policy decides whether container traffic may leave through the host. Docker sets it
 * to DROP; the demo's own checks (host <-> container, container <-> gateway) are not forwarded and pass
 * anyway, but a user's `ping 1.1.1.1` from the container would silently die. So: explain it, and with
 * --fix-forward add two ACCEPT rules for the bridge, tagged with a derived comment so down (and the leak
 * audit) find them without any state.
 */
const TOOLS = ['iptables', 'ip6tables'] as const;
export type IptablesTool = (typeof TOOLS)[number];

/** Pure: the policy from `iptables -S FORWARD` output. */
export function parsePolicy(text: string): string | undefined {
  return /^-P FORWARD (\S+)/m.exec(text)?.[1];
}

export async function forwardPolicy(exec: Exec, tool: IptablesTool): Promise<string | undefined> {
  const r = await exec(tool, ['-w', '-S', 'FORWARD'], { allowFail: true });
  return r.exitCode === 0 ? parsePolicy(r.stdout) : undefined;
}

/** The FORWARD policy of iptables and ip6tables, read at once (undefined where a tool cannot tell). */
export function readForwardPolicies(ctx: Ctx): Promise<(string | undefined)[]> {
  return Promise.all(TOOLS.map((tool) => forwardPolicy(ctx.exec, tool)));
}

/** Explains a DROP policy, or (opted in) lets the bridge's traffic through. Returns the tools that drop. */
export async function handleForwardPolicy(ctx: Ctx, policiesRead = readForwardPolicies(ctx)): Promise<IptablesTool[]> {
  const { id, bridge } = ctx.config;
  const policies = await policiesRead;
  const dropping: IptablesTool[] = TOOLS.filter((_, i) => policies[i] === 'DROP');
  if (dropping.length === 0) return dropping;
  if (!ctx.config.fixForward) {
    ctx.log.warn(
      `the ${dropping.join(' and ')} FORWARD policy is DROP (Docker sets it): the demo's checks still pass, but containers cannot reach past the host; ` +
        `rerun with --fix-forward to accept traffic in and out of ${bridge} (down removes the rules)`,
    );
    return dropping;
  }
  for (const tool of dropping) {
    for (const rule of forwardRules(id, bridge)) {
      const present = await ctx.exec(tool, ['-w', '-C', 'FORWARD', ...rule], { allowFail: true });
      if (present.exitCode !== 0) await ctx.exec(tool, ['-w', '-I', 'FORWARD', '1', ...rule]);
    }
  }
  ctx.log.info(`FORWARD policy is DROP: accepted traffic through ${bridge} in ${dropping.join(' and ')}`);
  return dropping;
}

/** Removes the fix's rules (each may have been inserted more than once by hand reruns). Idempotent. */
export async function removeForwardRules(exec: Exec, id: string, bridge: string): Promise<number> {
  let n = 0;
  for (let left = await presentForwardRules(exec, id, bridge); left.length > 0; left = await presentForwardRules(exec, id, bridge)) {
    for (const { tool, rule } of left) {
      await exec(tool, ['-w', '-D', 'FORWARD', ...rule], { allowFail: true });
      n++;
    }
    if (n > 100) throw new Error(`FORWARD rules for ${bridge} keep coming back`);
  }
  return n;
}
