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
 * Runs every step's up with a timed status line each; stops at the first failure. Each step's duration is
 * recorded as the turbo path records it (one timings line per step), so verify's report reads the same.
 */
export async function pipelineUp(ctx: Ctx): Promise<{ steps: StepRun[] }> {
  const steps: StepRun[] = [];
  for (const step of PIPELINE) {
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
  }
  return { steps };
}

/**
 * Runs every step's down in reverse. Each is tried even when an earlier one failed, so one stuck object
 * does not keep the rest on the host; the first error is raised at the end.
 */
export async function pipelineDown(ctx: Ctx): Promise<void> {
  let first: unknown;
  for (const step of [...PIPELINE].reverse().filter((s) => s.name !== 'verify').concat(PIPELINE.filter((s) => s.name === 'verify'))) {
    const span = ctx.log.step(`${step.name} down`);
    try {
      await step.down(ctx);
      span.done();
    } catch (e) {
      span.fail();
      ctx.log.error(String((e as Error).message ?? e));
      first ??= e;
    }
  }
  if (first) throw first;
}
