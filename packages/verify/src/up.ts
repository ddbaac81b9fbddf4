import {
  attachmentsOf,
  type CheckResult,
  type CniAttachment,
  mapLimit,
  type NodesState,
  type CniAttachState,
  type Ctx,
  faultPoint,
  generatedNetwork,
  type HostSetupState,
  type RuncBundleState,
  requireRoot,
  UserError,
  type VerifyState,
} from '@cni-demo/core';
import { formatTable, runCheck } from './checks.js';
import { httpGetRetry } from './http.js';
import { crossNode } from './cross-node.js';
import { formatAddressTable, manyChecks } from './many.js';
import { inRanges, resultCheck } from './result-check.js';
import { type Expectations, type HostPath, hostPathTo, type PingAllowed, resultChecks } from './result-checks.js';
import { type Report, startReportReads, writeReport } from './report.js';
import { type NetnsReader, sharedNetnsReader } from './topology.js';

/** The walkthrough's proof, as checks: addresses and routes inside, pings both ways, for both families. */
export async function up(ctx: Ctx): Promise<VerifyState & { report: Report['files'] }> {
  requireRoot('verify');
  const host = ctx.state.require<HostSetupState>('host-setup', 'verify');
  const bundle = ctx.state.require<RuncBundleState>('runc-bundle', 'verify');
  const att = ctx.state.require<CniAttachState>('cni-attach', 'verify');
  const id = bundle.containerId;
  const ifname = att.ifName;
  const atts = attachmentsOf(att);
  // the report's reads (topology, plugin versions) need nothing from the checks: they run alongside them, and
  // each container's netns is read once for both (links and routes, one process)
  const read = sharedNetnsReader(ctx.exec);
  const reads = startReportReads(ctx, host, read);

  // the network the plugins ran: host-setup's record of it (older states: the generated one)
  const view = host.network ?? generatedNetwork(ctx.config, host.confFile);
  const nodes = ctx.state.read<NodesState>('nodes');
  const onNodes = host.nodes !== undefined && nodes?.mode === 'netns';
  // the ranges the network hands out (with nodes: each node's pod subnets). Packets go only to addresses in
  // them, never wherever a plugin's result points (with no ranges known, as with dhcp, hostPathTo's look at
  // the routes is the guard)
  const ranges = onNodes && nodes ? nodes.nodes.flatMap((n) => [n.subnet4, n.subnet6]).filter(Boolean) : view.ranges;
  const allowed = (ip: string) => ranges.length === 0 || inRanges(ip, ranges);
  const hostPath = async (exp: Expectations, ip: string): Promise<HostPath> =>
    allowed(ip)
      ? hostPathTo(ctx, view, host, exp, ip)
      : { reachable: false, reason: `not pinged: ${ip} is outside ${ranges.join(' and ')}` };
  // the plugins' word checked against what the network hands out
  const checks: CheckResult[] = [await resultCheck(atts, ranges)];
  if (onNodes && nodes) checks.push(...(await nodeChecks(ctx, nodes, atts, read, allowed)));
  else if (atts.length > 1) checks.push(...(await manyChecks(ctx, atts, hostPath, undefined, read, allowed)));
  else
    checks.push(
      ...(await resultChecks(ctx, { containerId: id, netns: att.netns, result: att.result, ifname }, hostPath, undefined, read, allowed)),
    );
  const cross = await crossNode(ctx, atts);
  checks.push(...cross.checks);
  checks.push(...(await portMapChecks(ctx, host, atts)));

  const addresses = atts.map((a) => ({ containerId: a.containerId, ipv4: a.ipv4, ipv6: a.ipv6, ...(a.node ? { node: a.node } : {}) }));
  const state: VerifyState = {
    ok: checks.every((c) => c.ok),
    checks,
    addresses,
    ...(cross.pings.length > 0 ? { crossNode: cross.pings } : {}),
  };
  faultPoint('verify:before-state');
  ctx.state.write('verify', state);
  // the table first: the user has the answer while the report is finished (its reads ran alongside the checks,
  // so what is left is rendering and writing three files); with --json, runStep prints the returned state (with
  // the report's paths) as the step's one JSON line instead
  if (!ctx.config.json) {
    if (atts.length > 1) ctx.log.out(`${formatAddressTable(addresses, nodes?.mode === 'netns' ? nodes.nodes : [])}\n\n`);
    ctx.log.out(`${formatTable(checks, ctx.log.color)}\n`);
  }
  const report = await writeReport(ctx, { checks, host, attachments: atts, crossNode: cross.pings }, reads);
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
 * Within each node, the checks of today with the node in the host's place: its containers' addresses and routes
 * (via the node's own gateways), the node pinging each of them, and pairs of them pinging each other. A few nodes
 * at a time (each node's checks run their containers at once already).
 */
async function nodeChecks(
  ctx: Ctx,
  nodes: NodesState,
  atts: CniAttachment[],
  read: NetnsReader,
  allowed: PingAllowed,
): Promise<CheckResult[]> {
  const per = await mapLimit(nodes.nodes, 4, (n) =>
    manyChecks(
      ctx,
      atts.filter((a) => a.node === n.index),
      // the node has its bridge with the gateways: its containers are on its own link
      async () => ({ reachable: true, via: n.bridge }),
      { label: `node ${n.index}: `, who: 'the node', argv: ['nsenter', `--net=${n.pin}`] },
      read,
      allowed,
    ),
  );
  return per.flat();
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
      for (const addr of ['127.0.0.1', ...(host.gateway4 ? [host.gateway4] : [])]) {
        out.push(
          await runCheck(`host gets http://${addr}:${m.hostPort}/ from ${a.containerId} httpd`, async () => {
            const r = await httpGetRetry(addr, m.hostPort);
            if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
            return `HTTP 200, ${r.truncated ? `more than ${r.bytes} bytes (cut there)` : `${r.bytes} bytes`}: ${r.body.trim().slice(0, 40)}`;
          }),
        );
      }
    }
  }
  return out;
}
