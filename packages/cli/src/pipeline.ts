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

/** Runs every step's up with a timed status line each; stops at the first failure. */
export async function pipelineUp(ctx: Ctx): Promise<void> {
  for (const step of PIPELINE) {
    const span = ctx.log.step(`${step.name} up`);
    try {
      await step.up(ctx);
    } catch (e) {
      span.fail();
      throw e;
    }
    span.done();
  }
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
