import * as cniAttach from '@cni-demo/cni-attach';
import type { Ctx, StepName } from '@cni-demo/core';
import * as hostSetup from '@cni-demo/host-setup';
import * as imageFetch from '@cni-demo/image-fetch';
import * as runcBundle from '@cni-demo/runc-bundle';
import * as verify from '@cni-demo/verify';

export interface Step {
  name: StepName;
  up: (ctx: Ctx) => Promise<unknown>;
  down: (ctx: Ctx) => Promise<unknown>;
}

/** The walkthrough, in order. `down` walks it backwards. (turbo.json chains the same order for `pnpm turbo run demo`.) */
export const PIPELINE: Step[] = [
  { name: 'host-setup', up: hostSetup.up, down: hostSetup.down },
  { name: 'image-fetch', up: imageFetch.up, down: imageFetch.down },
  { name: 'runc-bundle', up: runcBundle.up, down: runcBundle.down },
  { name: 'cni-attach', up: cniAttach.up, down: cniAttach.down },
  { name: 'verify', up: verify.up, down: verify.down },
];

/**
 * Steps that need nothing from each other run at once in the single-process path: the image is fetched
 * and unpacked while the host is set up (image-fetch reads no host-setup state). A step starts when
 * every step listed for it has finished.
 */
export const UP_AFTER: Partial<Record<StepName, StepName[]>> = {
  'image-fetch': [],
};

/** Runs every step's up with a timed status line each; stops at the first failure. */
export async function pipelineUp(ctx: Ctx): Promise<void> {
  const started = new Map<StepName, Promise<void>>();
  const runOne = (step: Step): Promise<void> => {
    const existing = started.get(step.name);
    if (existing) return existing;
    const idx = PIPELINE.indexOf(step);
    const after = UP_AFTER[step.name] ?? PIPELINE.slice(0, idx).map((s) => s.name);
    const p = (async () => {
      await Promise.all(after.map((n) => runOne(PIPELINE.find((s) => s.name === n) as Step)));
      const span = ctx.log.step(`${step.name} up`);
      try {
        await step.up(ctx);
      } catch (e) {
        span.fail();
        throw e;
      }
      span.done();
    })();
    started.set(step.name, p);
    return p;
  };
  // every step is started in order; an independent one overlaps the steps before it
  const all = PIPELINE.map((s) => runOne(s));
  const settled = await Promise.allSettled(all);
  const failed = settled.find((r) => r.status === 'rejected');
  if (!failed) return;
  // a step that ran alongside a failed one is undone, so a refusal (bad input found by host-setup's
  // preflight) leaves nothing behind, as it would have when the steps ran one after another
  for (const [i, step] of PIPELINE.entries()) {
    const independent = UP_AFTER[step.name];
    if (!independent || settled[i]?.status !== 'fulfilled') continue;
    const before = PIPELINE.slice(0, i);
    if (before.some((b) => !independent.includes(b.name) && settled[PIPELINE.indexOf(b)]?.status === 'rejected')) {
      await step.down(ctx).catch(() => undefined);
    }
  }
  throw (failed as PromiseRejectedResult).reason;
}

/**
 * down in groups: DEL first (it needs the netns and the bridge); then the containers and the image unpack
 * at once; then the host objects (host-setup removes the folders the pins were in, so it waits for them);
 * verify's leak check last.
 */
export const DOWN_GROUPS: StepName[][] = [['cni-attach'], ['runc-bundle', 'image-fetch'], ['host-setup'], ['verify']];

/**
 * Runs every step's down. Each is tried even when an earlier one failed, so one stuck object does not
 * keep the rest on the host; the first error (in group order) is raised at the end.
 */
export async function pipelineDown(ctx: Ctx): Promise<void> {
  let first: unknown;
  for (const group of DOWN_GROUPS) {
    const results = await Promise.allSettled(
      group.map(async (name) => {
        const step = PIPELINE.find((s) => s.name === name) as Step;
        const span = ctx.log.step(`${step.name} down`);
        try {
          await step.down(ctx);
          span.done();
        } catch (e) {
          span.fail();
          ctx.log.error(String((e as Error).message ?? e));
          throw e;
        }
      }),
    );
    for (const r of results) if (r.status === 'rejected') first ??= r.reason;
  }
  if (first) throw first;
}
