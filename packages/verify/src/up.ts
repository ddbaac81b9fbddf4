import {
  attachmentsOf,
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
import { httpGetRetry } from './http.js';
import { formatAddressTable, manyChecks } from './many.js';
import { type Report, startReportReads, writeReport } from './report.js';

/** The walkthrough's proof, as checks: addresses and routes inside, pings both ways, for both families. */
export async function up(ctx: Ctx): Promise<VerifyState & { report: Report['files'] }> {
  requireRoot('verify');
  const host = ctx.state.require<HostSetupState>('host-setup', 'verify');
  const bundle = ctx.state.require<RuncBundleState>('runc-bundle', 'verify');
  const att = ctx.state.require<CniAttachState>('cni-attach', 'verify');
  const id = bundle.containerId;
  const ifname = att.ifName;
  const atts = attachmentsOf(att);
  // the report's reads (topology, plugin versions) need nothing from the checks: they run alongside them
  const reads = startReportReads(ctx, host);

  const checks: CheckResult[] = [];
  if (atts.length > 1) checks.push(...(await manyChecks(ctx, host, atts)));
  else checks.push(...(await singleChecks(ctx, host, att, id, ifname)));
  checks.push(...(await portMapChecks(ctx, host, atts)));

  const addresses = atts.map((a) => ({ containerId: a.containerId, ipv4: a.ipv4, ipv6: a.ipv6 }));
  const state: VerifyState = { ok: checks.every((c) => c.ok), checks, addresses };
  faultPoint('verify:before-state');
  ctx.state.write('verify', state);
  const report = await writeReport(ctx, { checks, host, attachments: atts }, reads);
  // with --json, runStep prints the returned state (with the report's paths) as the step's one JSON line
  if (!ctx.config.json) {
    if (atts.length > 1) ctx.log.out(`${formatAddressTable(addresses)}\n\n`);
    ctx.log.out(`${formatTable(checks, ctx.log.color)}\n`);
  }
  ctx.log.info(`report: ${report.files.markdown} (and ${report.files.json}, ${report.files.svg})`);
  if (!state.ok) {
    const failed = checks.filter((c) => !c.ok).map((c) => c.name);
    throw new UserError(`${failed.length} of ${checks.length} checks failed: ${failed.join('; ')}`, {
      hint: `rerun with --verbose to see every command; ${report.files.markdown} has each failure`,
    });
  }
  return { ...state, report: report.files };
}

/**
 * The mapped host ports, fetched from the host itself: 127.0.0.1 (portmap's snat + route_localnet make
 * loopback DNAT work) and the bridge gateway address (a plain local address the OUTPUT DNAT rule matches).
 */
async function portMapChecks(ctx: Ctx, host: HostSetupState, atts: ReturnType<typeof attachmentsOf>): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const a of atts) {
    for (const m of a.portMappings ?? []) {
      if (m.protocol !== 'tcp' || m.containerPort !== 80) continue;
      for (const addr of ['127.0.0.1', host.gateway4]) {
        out.push(
          await runCheck(`host gets http://${addr}:${m.hostPort}/ from ${a.containerId} httpd`, async () => {
            const r = await httpGetRetry(addr, m.hostPort);
            if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
            return `HTTP 200, ${r.body.length} bytes: ${r.body.trim().slice(0, 40)}`;
          }),
        );
      }
    }
  }
  return out;
}

async function singleChecks(ctx: Ctx, host: HostSetupState, att: CniAttachState, id: string, ifname: string): Promise<CheckResult[]> {
  const checks: CheckResult[] = [];
  let addrText: Promise<string> | undefined;
  const addr = () => (addrText ??= inContainer(ctx, id, ['ip', 'addr', 'show', 'dev', ifname]).then((r) => r.stdout));

  // the checks are independent: they run at once, the table keeps their order
  checks.push(
    ...(await Promise.all([
      runCheck(`${ifname} has IPv4 ${att.ipv4 ?? '?'}`, async () => {
        const { v4 } = parseIpAddr(await addr());
        if (!att.ipv4 || !v4.some((a) => a.startsWith(`${att.ipv4}/`))) throw new Error(`${ifname} carries [${v4.join(', ')}]`);
        return v4.join(', ');
      }),
      runCheck(`${ifname} has IPv6 ${att.ipv6 ?? '?'}`, async () => {
        const { v6 } = parseIpAddr(await addr());
        if (!att.ipv6 || !v6.some((a) => a.startsWith(`${att.ipv6}/`))) throw new Error(`${ifname} carries [${v6.join(', ')}]`);
        return v6.filter((a) => !a.startsWith('fe80')).join(', ');
      }),
      runCheck(`IPv4 default route via ${host.gateway4}`, async () => {
        const via = parseDefaultRoute((await inContainer(ctx, id, ['ip', 'route'])).stdout);
        if (via !== host.gateway4) throw new Error(`default route is via ${via ?? 'nothing'}`);
        return `default via ${via} dev ${ifname}`;
      }),
      runCheck(`IPv6 default route via ${host.gateway6}`, async () => {
        const via = parseDefaultRoute((await inContainer(ctx, id, ['ip', '-6', 'route'])).stdout);
        if (via !== host.gateway6) throw new Error(`default route is via ${via ?? 'nothing'}`);
        return `default via ${via} dev ${ifname}`;
      }),
      runCheck(`host pings container ${att.ipv4 ?? '?'}`, () => pingFrom(ctx, ['ping', '-4', '-c1', '-W1', att.ipv4 ?? ''])),
      runCheck(`host pings container ${att.ipv6 ?? '?'}`, () => pingFrom(ctx, ['ping', '-6', '-c1', '-W1', att.ipv6 ?? ''])),
      runCheck(`container pings gateway ${host.gateway4}`, () =>
        pingFrom(ctx, ['runc', '--root', ctx.config.runcRoot, 'exec', id, 'ping', '-c1', '-W1', host.gateway4]),
      ),
      runCheck(`container pings gateway ${host.gateway6}`, () =>
        pingFrom(ctx, ['runc', '--root', ctx.config.runcRoot, 'exec', id, 'ping', '-6', '-c1', '-W1', host.gateway6]),
      ),
    ])),
  );
  return checks;
}
