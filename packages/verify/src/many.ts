import { type CheckResult, type CniAttachment, type Ctx, createProgress, type HostSetupState, mapLimit, readLinks } from '@cni-demo/core';
import { parseDefaultRoute, pingFrom, runCheck } from './checks.js';

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

/** The checks for an instance with many containers: every container from the host, sampled pairs between them. */
export async function manyChecks(ctx: Ctx, host: HostSetupState, atts: CniAttachment[]): Promise<CheckResult[]> {
  const ifname = ctx.config.ifname;
  const runc = (id: string, ...args: string[]) => ['runc', '--root', ctx.config.runcRoot, 'exec', id, ...args];
  const checks: CheckResult[] = [];
  checks.push(
    await runCheck(`every container has its IPv4 and IPv6 on ${ifname}`, () =>
      everyContainer(ctx, 'addresses', atts, async (a) => {
        const links = await readLinks(ctx.exec, { pin: a.netns, args: ['addr', 'show', 'dev', ifname] });
        const locals = links.flatMap((l) => l.addrs.map((x) => x.local));
        for (const want of [a.ipv4, a.ipv6])
          if (!want || !locals.includes(want)) throw new Error(`${ifname} carries [${locals.join(', ')}], not ${want}`);
      }),
    ),
  );
  const first = atts[0];
  if (first) {
    checks.push(
      await runCheck(`${first.containerId}: default routes via ${host.gateway4} and ${host.gateway6}`, async () => {
        const v4 = parseDefaultRoute((await ctx.exec('nsenter', [`--net=${first.netns}`, 'ip', 'route'])).stdout);
        const v6 = parseDefaultRoute((await ctx.exec('nsenter', [`--net=${first.netns}`, 'ip', '-6', 'route'])).stdout);
        if (v4 !== host.gateway4 || v6 !== host.gateway6) throw new Error(`default routes via ${v4 ?? 'nothing'} and ${v6 ?? 'nothing'}`);
        return `via ${v4}, ${v6}`;
      }),
    );
  }
  checks.push(
    await runCheck(`host pings every container over IPv4`, () =>
      everyContainer(ctx, 'ping v4', atts, async (a) => void (await pingFrom(ctx, ['ping', '-4', '-c1', '-W1', a.ipv4 ?? '']))),
    ),
    await runCheck(`host pings every container over IPv6`, () =>
      everyContainer(ctx, 'ping v6', atts, async (a) => void (await pingFrom(ctx, ['ping', '-6', '-c1', '-W1', a.ipv6 ?? '']))),
    ),
  );
  const pairs = samplePairs(atts.length);
  const pairChecks = await mapLimit(pairs, ctx.config.concurrency, async ([i, j]) => {
    const a = atts[i] as CniAttachment;
    const b = atts[j] as CniAttachment;
    return [
      await runCheck(`${a.containerId} pings ${b.containerId} ${b.ipv4 ?? '?'}`, () =>
        pingFrom(ctx, runc(a.containerId, 'ping', '-c1', '-W1', b.ipv4 ?? '')),
      ),
      await runCheck(`${a.containerId} pings ${b.containerId} ${b.ipv6 ?? '?'}`, () =>
        pingFrom(ctx, runc(a.containerId, 'ping', '-6', '-c1', '-W1', b.ipv6 ?? '')),
      ),
    ];
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
