import {
  type CheckResult,
  type CniAttachment,
  type Ctx,
  type CrossNodePing,
  createProgress,
  mapLimit,
  nodeMode,
  podAddresses,
} from '@cni-demo/core';
import { pingFrom } from './checks.js';

/**
 * Cross-node checks: from one container on every node to one container on every other node, IPv4 and IPv6, over
 * the routes between the nodes' pod subnets. The pings leave from the container's own network namespace (entered
 * through its pin, as cheap as a ping gets; the network is the container's either way).
 */

/** A container a cross-node ping leaves from: its node and its pinned namespace. */
export interface CrossSource {
  node: number;
  containerId: string;
  netns: string;
}

/** A container a cross-node ping goes to (on a VM, another machine's, known by its computed address). */
export interface CrossTarget {
  node: number;
  containerId: string | undefined;
  ipv4: string;
  ipv6: string;
}

/**
 * The ordered pairs of distinct nodes 1..n: neighbours on the ring first (i -> i+1 for every i), then the next ring
 * offset, so any leading part of the list (a sample) still has every node as a source and as a target.
 */
export function crossNodePairs(n: number, sample = 0): [number, number][] {
  const out: [number, number][] = [];
  for (let d = 1; d < n; d++) for (let i = 1; i <= n; i++) out.push([i, ((i - 1 + d) % n) + 1]);
  return sample > 0 ? out.slice(0, sample) : out;
}

/** netns mode: the first container of each node pings from, and is pinged as, its node. */
export function netnsEnds(atts: CniAttachment[]): { sources: CrossSource[]; targets: CrossTarget[] } {
  const first = new Map<number, CniAttachment>();
  for (const a of atts) if (a.node !== undefined && !first.has(a.node)) first.set(a.node, a);
  const list = [...first.entries()].sort((a, b) => a[0] - b[0]);
  return {
    sources: list.map(([node, a]) => ({ node, containerId: a.containerId, netns: a.netns })),
    targets: list.map(([node, a]) => ({ node, containerId: a.containerId, ipv4: a.ipv4 ?? '', ipv6: a.ipv6 ?? '' })),
  };
}

/**
 * vm mode: this VM's first container pings the first container of every other node, whose addresses follow from
 * the rule (each container asks for the k-th address of its node's subnets), since no VM can read another's state.
 */
export function vmEnds(ctx: Ctx, atts: CniAttachment[]): { sources: CrossSource[]; targets: CrossTarget[] } {
  const c = ctx.config;
  const first = atts[0];
  const sources = first ? [{ node: c.nodeIndex, containerId: first.containerId, netns: first.netns }] : [];
  const targets: CrossTarget[] = [];
  for (let j = 1; j <= c.nodes; j++) {
    if (j === c.nodeIndex) continue;
    const a = podAddresses(c, j, 1);
    targets.push({ node: j, containerId: undefined, ipv4: a.ipv4, ipv6: a.ipv6 });
  }
  return { sources, targets };
}

/** Every cross-node ping of the pairs, both families, at once (bounded); each outcome with its round-trip time. */
export async function crossNodePings(
  ctx: Ctx,
  ends: { sources: CrossSource[]; targets: CrossTarget[] },
  pairs: [number, number][],
): Promise<CrossNodePing[]> {
  const jobs = pairs.flatMap(([i, j]) => {
    const from = ends.sources.find((s) => s.node === i);
    const to = ends.targets.find((t) => t.node === j);
    return from && to ? ([4, 6] as const).map((family) => ({ from, to, family })) : [];
  });
  const progress = createProgress('cross-node', jobs.length, { quiet: ctx.config.json || Boolean(ctx.log.quiet) });
  return mapLimit(jobs, Math.max(ctx.config.concurrency, 16), async ({ from, to, family }) => {
    const address = family === 4 ? to.ipv4 : to.ipv6;
    const argv = ['nsenter', `--net=${from.netns}`, 'ping', `-${family}`, '-c1', '-W1', address];
    const ping: CrossNodePing = await pingFrom(ctx, argv).then(
      (detail) => ({ ok: true, detail, rttMs: rttOf(detail) }) as CrossNodePing,
      (e: unknown) => ({ ok: false, detail: (e as Error).message.split('\n')[0] ?? '', rttMs: undefined }) as CrossNodePing,
    );
    progress.tick();
    return {
      from: { node: from.node, containerId: from.containerId },
      to: { node: to.node, containerId: to.containerId, address },
      family,
      ok: ping.ok,
      rttMs: ping.rttMs,
      detail: ping.detail,
    };
  }).finally(() => progress.done());
}

const rttRange = (rtts: number[]) => {
  const lo = Math.min(...rtts);
  const hi = Math.max(...rtts);
  return lo === hi ? `${lo}` : `${lo}–${hi}`;
};

const rttOf = (detail: string) => {
  const m = /reply in ([\d.]+) ms/.exec(detail);
  return m ? Number(m[1]) : undefined;
};

/** One check per source node and family: did it reach a container on each of the other nodes? */
export function crossNodeChecks(pings: CrossNodePing[]): CheckResult[] {
  const out: CheckResult[] = [];
  const keys = [...new Set(pings.map((p) => `${p.from.node} ${p.family}`))];
  for (const key of keys) {
    const [node, family] = key.split(' ').map(Number);
    const mine = pings.filter((p) => p.from.node === node && p.family === family);
    const from = mine[0]?.from.containerId ?? '?';
    const failed = mine.filter((p) => !p.ok);
    const rtts = mine.flatMap((p) => (p.rttMs === undefined ? [] : [p.rttMs]));
    const nodes = mine.map((p) => p.to.node).join(', ');
    out.push({
      name: `${from} (node ${node}) pings a container on node${mine.length > 1 ? 's' : ''} ${nodes} over IPv${family}`,
      ok: failed.length === 0,
      detail:
        failed.length === 0
          ? `${mine.length}/${mine.length} replied${rtts.length ? `, ${rttRange(rtts)} ms` : ''}`
          : `${failed.length} of ${mine.length} failed: ${failed
              .slice(0, 3)
              .map((p) => `node ${p.to.node} ${p.to.address}: ${p.detail}`)
              .join('; ')}`,
      durationMs: 0,
    });
  }
  return out;
}

/** The cross-node part of verify, for either mode; none with one node, or on a VM that is not the last. */
export async function crossNode(ctx: Ctx, atts: CniAttachment[]): Promise<{ checks: CheckResult[]; pings: CrossNodePing[] }> {
  const c = ctx.config;
  const mode = nodeMode(c);
  // a VM checks the others once they can all be up: the last one to come up does it
  if (mode === 'single' || (mode === 'vm' && c.nodeIndex !== c.nodes)) return { checks: [], pings: [] };
  const started = performance.now();
  const ends = mode === 'netns' ? netnsEnds(atts) : vmEnds(ctx, atts);
  const pairs = mode === 'netns' ? crossNodePairs(c.nodes, c.crossNodeSample) : crossNodePairs(c.nodes).filter(([i]) => i === c.nodeIndex);
  const pings = await crossNodePings(ctx, ends, mode === 'vm' && c.crossNodeSample > 0 ? pairs.slice(0, c.crossNodeSample) : pairs);
  const checks = crossNodeChecks(pings);
  const ms = (performance.now() - started) / Math.max(1, checks.length);
  return { checks: checks.map((x) => ({ ...x, durationMs: ms })), pings };
}
