import * as cniAttach from '@cni-demo/cni-attach';
import { type Ctx, recordTiming, type StepName } from '@cni-demo/core';
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

export interface StepRun {
  step: StepName;
  durationMs: number;
  result: unknown;
}

/**
 * Steps that need nothing from each other run at once in the single-process path: the image is fetched
 * and unpacked while the host is set up (image-fetch reads no host-setup state). A step starts when
 * every step listed for it has finished.
 */
export const UP_AFTER: Partial<Record<StepName, StepName[]>> = {
  'image-fetch': [],
};

/** image-fetch can overlap host-setup only when the tools host-setup would install are already there. */
function imageToolsPresent(): boolean {
  return ['umoci', 'skopeo', 'busybox'].every((t) => hostSetup.whichCommand(t) !== undefined);
}

/**
 * Runs every step's up with a timed status line each; stops at the first failure. Each step's duration is
 * recorded as the turbo path records it (one timings line per step), so verify's report reads the same.
 */
export async function pipelineUp(ctx: Ctx): Promise<{ steps: StepRun[] }> {
  const steps: StepRun[] = [];
  const overlap = imageToolsPresent();
  const started = new Map<StepName, Promise<void>>();
  const runOne = (step: Step): Promise<void> => {
    const existing = started.get(step.name);
    if (existing) return existing;
    const idx = PIPELINE.indexOf(step);
    const after = (overlap ? UP_AFTER[step.name] : undefined) ?? PIPELINE.slice(0, idx).map((s) => s.name);
    const p = (async () => {
      await Promise.all(after.map((n) => runOne(PIPELINE.find((s) => s.name === n) as Step)));
      const startedAt = new Date().toISOString();
      const span = ctx.log.step(`${step.name} up`);
      let result: unknown;
      try {
        result = await step.up(ctx);
      } catch (e) {
        recordTiming(ctx.names.runDir, { step: step.name, action: 'up', startedAt, durationMs: span.fail(), ok: false });
        throw e;
      }
      const durationMs = span.done();
      // verify records after its report is written, so its own line shows up in the next report only
      recordTiming(ctx.names.runDir, { step: step.name, action: 'up', startedAt, durationMs, ok: true });
      steps.push({ step: step.name, durationMs, result });
    })();
    started.set(step.name, p);
    return p;
  };
  // every step is started in order; an independent one overlaps the steps before it
  const all = PIPELINE.map((s) => runOne(s));
  const settled = await Promise.allSettled(all);
  const failed = settled.find((r) => r.status === 'rejected');
  if (!failed) {
    steps.sort((a, b) => PIPELINE.findIndex((s) => s.name === a.step) - PIPELINE.findIndex((s) => s.name === b.step));
    return { steps };
  }
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
 * down in groups, as turbo.json chains them: DEL first (it needs the netns and the bridge); then the
 * containers (their rootfs is the unpacked image, or an overlay over it, so the image waits for them);
 * then the image unpack and the host objects at once; verify's leak check last. (pipelineDown stops the
 * containers' processes during the first group already.)
 */
export const DOWN_GROUPS: StepName[][] = [['cni-attach'], ['runc-bundle'], ['image-fetch', 'host-setup'], ['verify']];

/**
 * Runs every step's down. Each is tried even when an earlier one failed, so one stuck object does not
 * keep the rest on the host; the first error (in group order) is raised at the end.
 */
export async function pipelineDown(ctx: Ctx): Promise<void> {
  let first: unknown;
  let early2: Promise<void> | undefined;
  for (const group of DOWN_GROUPS) {
    const running = Promise.allSettled(
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
    // the containers' processes are stopped while DEL runs: DEL needs their network namespaces, which the
    // pins keep, not the processes (runc-bundle down then finds them gone and removes the rest). Started
    // after the DELs have been handed to their plugins (setImmediate: once the work queued now is done),
    // as DEL is the longer wait and starting a process holds this thread for a few ms.
    const early = group.includes('cni-attach')
      ? new Promise<void>((r) => setImmediate(r)).then(() => runcBundle.deleteContainersEarly(ctx)).catch(() => undefined)
      : undefined;
    const results = await running;
    await early;
    for (const r of results) if (r.status === 'rejected') first ??= r.reason;
    // every DEL done: the bridge (now without ports) goes while runc-bundle down runs
    if (group.includes('cni-attach') && !first) early2 = hostSetup.deleteBridgeEarly(ctx).catch(() => undefined);
    if (group.includes('runc-bundle')) await early2;
  }
  if (first) throw first;
}
