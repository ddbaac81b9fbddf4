import {
  type CheckResult,
  type CniAttachment,
  type Ctx,
  createProgress,
  inMainTable,
  mapLimit,
  printable,
  type RouteInfo,
  readNetwork,
} from '@cni-demo/core';
import { execArgv, pingFrom, runCheck as check } from './checks.js';
import {
  dnsCheck,
  type Expectations,
  expectationsOf,
  gatewayChecks,
  type HostPath,
  notApplicable as na,
  type PingAllowed,
  routeCheck,
  sameIp,
} from './result-checks.js';
import type { NetnsReader } from './topology.js';

/**
 * Pairs for container-to-container checks: neighbours on the ring plus a few spread over the instance,
 * so a broken pair anywhere is likely caught without N² pings.
 */
export function samplePairs(n: number, max = 6): [number, number][] {
  if (n < 2) return [];
  const out: [number, number][] = [];
  const seen = new Set<string>();
  const add = (a: number, b: number) => {
    if (a === b || out.length >= max || seen.has(`${a}>${b}`)) return;
    seen.add(`${a}>${b}`);
    out.push([a, b]);
  };
  add(0, 1);
  add(n - 1, 0);
  add(Math.floor(n / 2), n - 1);
  for (let step = Math.max(1, Math.floor(n / max)), i = 1; out.length < max && i < n; i += step) add(i, (i + Math.floor(n / 3) + 1) % n);
  return out;
}

/** Runs `fn` for every attachment; the check passes when all do and names the failing ones otherwise. */
async function everyContainer(ctx: Ctx, label: string, atts: CniAttachment[], fn: (a: CniAttachment) => Promise<void>): Promise<string> {
  const failed: string[] = [];
  const progress = createProgress(label, atts.length, { quiet: ctx.config.json || Boolean(ctx.log.quiet) });
  await mapLimit(atts, Math.max(ctx.config.concurrency, 16), async (a) => {
    try {
      await fn(a);
    } catch (e) {
      failed.push(`${a.containerId}: ${(e as Error).message.split('\n')[0]}`);
    }
    progress.tick();
  }).finally(() => progress.done());
  if (failed.length > 0)
    throw new Error(`${failed.length} of ${atts.length} failed: ${failed.slice(0, 3).join('; ')}${failed.length > 3 ? ' …' : ''}`);
  return `${atts.length}/${atts.length}`;
}

/**
 * Where the "host" checks run from: the host itself, or a node (its namespace entered with nsenter), whose name
 * then starts each check's.
 */
export interface Side {
  /** prefix for the check names ("" for the host) */
  label: string;
  /** who pings the containers: "host", "the node" */
  who: string;
  /** argv prefix that runs a command there */
  argv: string[];
}

export const HOST_SIDE: Side = { label: '', who: 'host', argv: [] };

/**
 * The checks for an instance with many containers (or one node's containers), each derived from the containers'
 * ADD results: every container carries its result's addresses, the first one has its result's routes, the host
 * (the node) pings every address where the network gives it a path, and a sample of pairs ping each other.
 */
export async function manyChecks(
  ctx: Ctx,
  atts: CniAttachment[],
  hostPath: (exp: Expectations, ip: string) => Promise<HostPath>,
  side: Side = HOST_SIDE,
  read: NetnsReader = (pin) => readNetwork(ctx.exec, { pin }),
  allowed: PingAllowed = () => true,
): Promise<CheckResult[]> {
  const runCheck = (name: string, fn: () => Promise<string>) => check(`${side.label}${name}`, fn);
  const notApplicable = (name: string, reason: string) => na(`${side.label}${name}`, reason);
  const ifname = ctx.config.ifname;
  const runc = (id: string, ...args: string[]) => execArgv(ctx, id, args);
  const checks: CheckResult[] = [];
  const exps = new Map<string, Expectations>();
  const unreadable: string[] = [];
  for (const a of atts) {
    try {
      exps.set(a.containerId, expectationsOf(a.result, ifname));
    } catch (e) {
      unreadable.push(`${a.containerId}: ${(e as Error).message}`);
    }
  }
  if (unreadable.length > 0) {
    checks.push(await runCheck('every CNI result is readable', () => Promise.reject(new Error(unreadable.slice(0, 3).join('; ')))));
  }
  const expOf = (a: CniAttachment) => exps.get(a.containerId) ?? { ips: [], routes: [], dns: undefined, hostInterfaces: [] };
  checks.push(
    await runCheck(`every container has the addresses of its result`, () =>
      everyContainer(ctx, 'addresses', atts, async (a) => {
        const { links } = await read(a.netns);
        const ips = expOf(a).ips;
        if (ips.length === 0) throw new Error('its result has no ips');
        for (const ip of ips) {
          const link = links.find((l) => l.ifname === ip.ifname);
          if (!link?.addrs.some((x) => sameIp(x.local, ip.address) && x.prefixlen === ip.prefixlen)) {
            throw new Error(
              `${ip.ifname} carries [${(link?.addrs ?? []).map((x) => `${x.local}/${x.prefixlen}`).join(', ')}], not ${ip.cidr}`,
            );
          }
        }
      }),
    ),
  );
  const first = atts[0];
  if (first) {
    let routes: Promise<RouteInfo[]> | undefined;
    const routesIn = () => (routes ??= read(first.netns).then((v) => v.routes.filter(inMainTable)));
    const prefix = `${side.label}${first.containerId}: `;
    checks.push(
      ...(await Promise.all([
        ...expOf(first).routes.map((rt) => routeCheck(rt, routesIn, prefix)),
        ...gatewayChecks(ctx, first.containerId, expOf(first), undefined, prefix, allowed),
        dnsCheck(ctx, first.containerId, expOf(first), prefix),
      ])),
    );
  }
  for (const family of [4, 6] as const) {
    const label = `${side.who} pings every container over IPv${family}`;
    const withFamily = atts.filter((a) => expOf(a).ips.some((i) => i.family === family));
    const sample = withFamily[0];
    if (!sample) continue;
    const sampleIp = expOf(sample).ips.find((i) => i.family === family)?.address ?? '';
    const path = await hostPath(expOf(sample), sampleIp);
    if (!path.reachable) {
      checks.push(notApplicable(label, path.reason));
      continue;
    }
    checks.push(
      await runCheck(label, () =>
        everyContainer(ctx, `ping v${family}`, withFamily, async (a) => {
          for (const ip of expOf(a).ips.filter((i) => i.family === family))
            await pingFrom(ctx, [...side.argv, 'ping', `-${family}`, '-c1', '-W1', ip.address]);
        }),
      ),
    );
  }
  const pairs = samplePairs(atts.length);
  const pairChecks = await mapLimit(pairs, ctx.config.concurrency, async ([i, j]) => {
    const a = atts[i] as CniAttachment;
    const b = atts[j] as CniAttachment;
    return Promise.all(
      expOf(b).ips.map((ip) => {
        const name = `${a.containerId} pings ${b.containerId} ${ip.address}`;
        if (!allowed(ip.address)) return Promise.resolve(notApplicable(name, `not pinged: ${ip.address} is outside the network's ranges`));
        return runCheck(name, () =>
          pingFrom(ctx, runc(a.containerId, 'ping', ...(ip.family === 6 ? ['-6'] : []), '-c1', '-W1', ip.address)),
        );
      }),
    );
  });
  checks.push(...pairChecks.flat());
  return checks;
}

/** container | IPv4 | IPv6, one row each; with several nodes, grouped under a line per node. */
export function formatAddressTable(
  atts: { containerId: string; ipv4: string | undefined; ipv6: string | undefined; node?: number }[],
  nodes: { index: number; name: string; underlay4: string; subnet4: string; subnet6: string }[] = [],
): string {
  const w = Math.max(9, ...atts.map((a) => a.containerId.length + (nodes.length ? 2 : 0)));
  const w4 = Math.max(4, ...atts.map((a) => (a.ipv4 ?? '-').length));
  const lines = [`${'container'.padEnd(w)}  ${'IPv4'.padEnd(w4)}  IPv6`, `${'-'.repeat(w)}  ${'-'.repeat(w4)}  ----`];
  const row = (a: (typeof atts)[number], indent: string) =>
    lines.push(`${`${indent}${a.containerId}`.padEnd(w)}  ${(a.ipv4 ?? '-').padEnd(w4)}  ${a.ipv6 ?? '-'}`);
  // the addresses are the plugins' word: shown, not acted on
  const shown = () => printable(lines.join('\n'), { keepNewlines: true });
  if (nodes.length === 0) {
    for (const a of atts) row(a, '');
    return shown();
  }
  for (const n of nodes) {
    lines.push(`node ${n.index} ${n.name}: underlay ${n.underlay4}, pods ${n.subnet4} ${n.subnet6}`);
    for (const a of atts.filter((x) => x.node === n.index)) row(a, '  ');
  }
  for (const a of atts.filter((x) => !nodes.some((n) => n.index === x.node))) row(a, '');
  return shown();
}
