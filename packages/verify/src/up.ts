import {
  type CheckResult,
  type CniAttachState,
  type Ctx,
  faultPoint,
  type HostSetupState,
  type RuncBundleState,
  requireRoot,
  UserError,
  type VerifyState,
} from '@cni-demo/core';
import { formatTable, inContainer, parseDefaultRoute, parseIpAddr, pingFrom, runCheck } from './checks.js';
import { type Report, writeReport } from './report.js';

/** The walkthrough's proof, as checks: addresses and routes inside, pings both ways, for both families. */
export async function up(ctx: Ctx): Promise<VerifyState & { report: Report['files'] }> {
  requireRoot('verify');
  const host = ctx.state.require<HostSetupState>('host-setup', 'verify');
  const bundle = ctx.state.require<RuncBundleState>('runc-bundle', 'verify');
  const att = ctx.state.require<CniAttachState>('cni-attach', 'verify');
  const id = bundle.containerId;
  const ifname = att.ifName;

  const checks: CheckResult[] = [];
  let addrText: string | undefined;
  const addr = async () => (addrText ??= (await inContainer(ctx, id, ['ip', 'addr', 'show', 'dev', ifname])).stdout);

  checks.push(
    await runCheck(`${ifname} has IPv4 ${att.ipv4 ?? '?'}`, async () => {
      const { v4 } = parseIpAddr(await addr());
      if (!att.ipv4 || !v4.some((a) => a.startsWith(`${att.ipv4}/`))) throw new Error(`${ifname} carries [${v4.join(', ')}]`);
      return v4.join(', ');
    }),
    await runCheck(`${ifname} has IPv6 ${att.ipv6 ?? '?'}`, async () => {
      const { v6 } = parseIpAddr(await addr());
      if (!att.ipv6 || !v6.some((a) => a.startsWith(`${att.ipv6}/`))) throw new Error(`${ifname} carries [${v6.join(', ')}]`);
      return v6.filter((a) => !a.startsWith('fe80')).join(', ');
    }),
    await runCheck(`IPv4 default route via ${host.gateway4}`, async () => {
      const via = parseDefaultRoute((await inContainer(ctx, id, ['ip', 'route'])).stdout);
      if (via !== host.gateway4) throw new Error(`default route is via ${via ?? 'nothing'}`);
      return `default via ${via} dev ${ifname}`;
    }),
    await runCheck(`IPv6 default route via ${host.gateway6}`, async () => {
      const via = parseDefaultRoute((await inContainer(ctx, id, ['ip', '-6', 'route'])).stdout);
      if (via !== host.gateway6) throw new Error(`default route is via ${via ?? 'nothing'}`);
      return `default via ${via} dev ${ifname}`;
    }),
    await runCheck(`host pings container ${att.ipv4 ?? '?'}`, () => pingFrom(ctx, ['ping', '-4', '-c1', '-W1', att.ipv4 ?? ''])),
    await runCheck(`host pings container ${att.ipv6 ?? '?'}`, () => pingFrom(ctx, ['ping', '-6', '-c1', '-W1', att.ipv6 ?? ''])),
    await runCheck(`container pings gateway ${host.gateway4}`, () =>
      pingFrom(ctx, ['runc', '--root', ctx.config.runcRoot, 'exec', id, 'ping', '-c1', '-W1', host.gateway4]),
    ),
    await runCheck(`container pings gateway ${host.gateway6}`, () =>
      pingFrom(ctx, ['runc', '--root', ctx.config.runcRoot, 'exec', id, 'ping', '-6', '-c1', '-W1', host.gateway6]),
    ),
  );

  faultPoint('verify:before-state');
  const state: VerifyState = { ok: checks.every((c) => c.ok), checks };
  ctx.state.write('verify', state);
  const report = await writeReport(ctx, { checks, host, attachments: [att] });
  // with --json, runStep prints the returned state (with the report's paths) as the step's one JSON line
  if (!ctx.config.json) ctx.log.out(`${formatTable(checks, ctx.log.color)}\n`);
  ctx.log.info(`report: ${report.files.markdown} (and ${report.files.json}, ${report.files.svg})`);
  if (!state.ok) {
    const failed = checks.filter((c) => !c.ok).map((c) => c.name);
    throw new UserError(`${failed.length} of ${checks.length} checks failed: ${failed.join('; ')}`, {
      hint: `rerun with --verbose to see every command; ${report.files.markdown} has each failure`,
    });
  }
  return { ...state, report: report.files };
}
