import { type Ctx, type Exec, forwardPolicies, forwardRules, IPTABLES_TOOLS, type IptablesTool, presentForwardRules } from '@cni-demo/core';

/**
 * The FORWARD chain's policy decides whether container traffic may leave through the host. Docker sets it
 * to DROP; the demo's own checks (host <-> container, container <-> gateway) are not forwarded and pass
 * anyway, but a user's `ping 1.1.1.1` from the container would silently die. So: explain it, and with
 * --fix-forward add two ACCEPT rules for the bridge, tagged with a derived comment so down (and the leak
 * audit) find them without any state. Returns the tools whose policy drops.
 */
export async function handleForwardPolicy(
  ctx: Ctx,
  policiesRead = forwardPolicies(ctx.exec),
  bridge = ctx.config.bridge,
): Promise<IptablesTool[]> {
  const { id } = ctx.config;
  const policies = await policiesRead;
  const dropping: IptablesTool[] = IPTABLES_TOOLS.filter((_, i) => policies[i] === 'DROP');
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
