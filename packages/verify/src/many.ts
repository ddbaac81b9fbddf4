import {
  type CheckResult,
  type CniAttachment,
  type Ctx,
  createProgress,
  mapLimit,
  type RouteInfo,
  readLinks,
  readRoutes,
} from '@cni-demo/core';
import { pingFrom, runCheck } from './checks.js';
import {
  dnsCheck,
  type Expectations,
  expectationsOf,
  gatewayChecks,
  type HostPath,
  notApplicable,
  routeCheck,
  sameIp,
} from './result-checks.js';

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
 * The checks for an instance with many containers, each derived from the containers' ADD results: every
 * container carries its result's addresses, the first one has its result's routes, the host pings every
 * address where the network gives it a path, and a sample of pairs ping each other.
 */
export async function manyChecks(
  ctx: Ctx,
  atts: CniAttachment[],
  hostPath: (exp: Expectations, ip: string) => Promise<HostPath>,
): Promise<CheckResult[]> {
  const ifname = ctx.config.ifname;
  const runc = (id: string, ...args: string[]) => ['runc', '--root', ctx.config.runcRoot, 'exec', id, ...args];
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
        const links = await readLinks(ctx.exec, { pin: a.netns, args: ['addr', 'show'] });
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
    const routesIn = () => (routes ??= readRoutes(ctx.exec, { pin: first.netns, filter: [] }));
    const prefix = `${first.containerId}: `;
    checks.push(
      ...(await Promise.all([
        ...expOf(first).routes.map((rt) => routeCheck(rt, routesIn, prefix)),
        ...gatewayChecks(ctx, first.containerId, expOf(first), undefined, prefix),
        dnsCheck(ctx, first.containerId, expOf(first), prefix),
      ])),
    );
  }
  for (const family of [4, 6] as const) {
    const label = `host pings every container over IPv${family}`;
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
            await pingFrom(ctx, ['ping', `-${family}`, '-c1', '-W1', ip.address]);
        }),
      ),
    );
  }
  const pairs = samplePairs(atts.length);
  const pairChecks = await mapLimit(pairs, ctx.config.concurrency, async ([i, j]) => {
    const a = atts[i] as CniAttachment;
    const b = atts[j] as CniAttachment;
    return Promise.all(
      expOf(b).ips.map((ip) =>
        runCheck(`${a.containerId} pings ${b.containerId} ${ip.address}`, () =>
          pingFrom(ctx, runc(a.containerId, 'ping', ...(ip.family === 6 ? ['-6'] : []), '-c1', '-W1', ip.address)),
        ),
      ),
    );
  });
  checks.push(...pairChecks.flat());
  return checks;
}

/** container | IPv4 | IPv6, one row each. */
export function formatAddressTable(atts: { containerId: string; ipv4: string | undefined; ipv6: string | undefined }[]): string {
  const w = Math.max(9, ...atts.map((a) => a.containerId.length));
  const w4 = Math.max(4, ...atts.map((a) => (a.ipv4 ?? '-').length));
  const lines = [`${'container'.padEnd(w)}  ${'IPv4'.padEnd(w4)}  IPv6`, `${'-'.repeat(w)}  ${'-'.repeat(w4)}  ----`];
  for (const a of atts) lines.push(`${a.containerId.padEnd(w)}  ${(a.ipv4 ?? '-').padEnd(w4)}  ${a.ipv6 ?? '-'}`);
  return lines.join('\n');
}
