import { step as cniAttach } from '@cni-demo/cni-attach';
import {
  type Ctx,
  GRAPH,
  recordTiming,
  type StageName,
  type StepModule,
  type StepName,
  stepOrder,
  type Task,
  taskId,
} from '@cni-demo/core';
import { step as hostSetup } from '@cni-demo/host-setup';
import { step as imageFetch } from '@cni-demo/image-fetch';
import { step as nodes } from '@cni-demo/nodes';
import { step as runcBundle } from '@cni-demo/runc-bundle';
import { step as verify } from '@cni-demo/verify';

/** The step packages, under the names the graph (core graph.ts) gives them. */
export const STEP_MODULES: Record<StepName, StepModule> = {
  'host-setup': hostSetup,
  'image-fetch': imageFetch,
  nodes,
  'runc-bundle': runcBundle,
  'cni-attach': cniAttach,
  verify,
};

export interface StepRun {
  step: StepName;
  durationMs: number;
  result: unknown;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error?: unknown; skipped?: boolean };

/** Starts every task as soon as those it waits for have ended and `mayStart` agrees; each task's outcome, by id. */
async function schedule(
  tasks: Task[],
  run: (t: Task) => Promise<unknown>,
  mayStart: (t: Task, after: Outcome[]) => boolean,
): Promise<Map<string, Outcome>> {
  const started = new Map<string, Promise<Outcome>>();
  const start = (id: string): Promise<Outcome> => {
    const known = started.get(id);
    if (known) return known;
    const t = tasks.find((x) => taskId(x) === id);
    if (!t) throw new Error(`the step graph names no task ${id}`);
    const p = (async (): Promise<Outcome> => {
      if (!mayStart(t, await Promise.all(t.after.map(start)))) return { ok: false, skipped: true };
      try {
        return { ok: true, value: await run(t) };
      } catch (error) {
        return { ok: false, error };
      }
    })();
    started.set(id, p);
    return p;
  };
  // started in the order declared, so of the tasks ready at once the first declared goes first
  const outcomes = await Promise.all(tasks.map((t) => start(taskId(t))));
  return new Map(tasks.map((t, i) => [taskId(t), outcomes[i] as Outcome]));
}

function stageOf(m: StepModule, t: Task): (ctx: Ctx) => Promise<unknown> {
  const fn = t.stage ? m.stages?.[t.stage] : undefined;
  if (!fn) throw new Error(`step ${t.step} offers no stage ${t.stage}`);
  return fn;
}

/**
 * Every step's up, each task as soon as the graph lets it, with a timed status line each; stops at the first
 * failure. Each step's duration (its stages included) is recorded as the turbo path records it, one timings
 * line per step, so verify's report reads the same.
 */
export async function pipelineUp(ctx: Ctx, modules: Record<StepName, StepModule> = STEP_MODULES): Promise<{ steps: StepRun[] }> {
  const steps: StepRun[] = [];
  const stages = new Map<StepName, Partial<Record<StageName, unknown>>>();
  const began = new Map<StepName, { startedAt: string; t0: number }>();
  const record = (step: StepName, ok: boolean) => {
    const b = began.get(step) as { startedAt: string; t0: number };
    const durationMs = performance.now() - b.t0;
    // verify records after its report is written, so its own line shows up in the next report only
    recordTiming(ctx.names.runDir, { step, action: 'up', startedAt: b.startedAt, durationMs, ok });
    return durationMs;
  };
  const outcomes = await schedule(
    GRAPH.up,
    async (t) => {
      const m = modules[t.step];
      // a step with nothing to do for this config passes by unseen (no status line, no timing, no result)
      if (m.applies && !m.applies(ctx, 'up')) return undefined;
      if (!began.has(t.step)) began.set(t.step, { startedAt: new Date().toISOString(), t0: performance.now() });
      const span = ctx.log.step(`${t.step} ${t.stage ?? 'up'}`);
      try {
        const result = t.stage ? await stageOf(m, t)(ctx) : await m.up(ctx, stages.get(t.step));
        span.done();
        if (t.stage) stages.set(t.step, { ...stages.get(t.step), [t.stage]: result });
        else steps.push({ step: t.step, durationMs: record(t.step, true), result });
        return result;
      } catch (e) {
        span.fail();
        record(t.step, false);
        throw e;
      }
    },
    (_, after) => after.every((o) => o.ok),
  );
  const failedAt = GRAPH.up.findIndex((t) => {
    const o = outcomes.get(taskId(t));
    return o && !o.ok && !o.skipped;
  });
  if (failedAt < 0) {
    const order = stepOrder('up');
    return { steps: steps.sort((a, b) => order.indexOf(a.step) - order.indexOf(b.step)) };
  }
  const failedTask = GRAPH.up[failedAt] as Task;
  const error = (outcomes.get(taskId(failedTask)) as { error?: unknown }).error;
  if (UNDO_ALL_WHEN_FAILED.includes(failedTask.step)) {
    // the plugins refused the network (its own DEL undid their part): nothing of the run is worth keeping
    ctx.log.warn(`${failedTask.step} failed: taking down what this up made, so the host is as it was`);
    await pipelineDown(ctx, modules).catch((e: unknown) => {
      if (error instanceof Error) error.message += `\n(and the down after it failed too: ${(e as Error).message})`;
    });
    throw error;
  }
  // a step that ran alongside the failed one, and would not have started had the steps run one after another,
  // is undone: a refusal (bad input found by host-setup) leaves nothing behind
  for (const t of GRAPH.up.slice(failedAt + 1).reverse()) {
    const m = modules[t.step];
    if (!t.stage && outcomes.get(taskId(t))?.ok && m.applies?.(ctx, 'down') !== false) await m.down(ctx).catch(() => undefined);
  }
  throw error;
}

/**
 * Steps whose failure takes the whole run down again. A failed ADD is the network's own refusal (a plugin
 * that fails, a config it rejects): the container, its netns and the host's preparation exist only to be
 * attached, so the run undoes itself and the host is as before. A failed verify keeps everything to look at.
 */
export const UNDO_ALL_WHEN_FAILED: StepName[] = ['cni-attach'];

/**
 * Every step's down, each as soon as the graph lets it. Each is tried even when one it waits for failed, so
 * one stuck object does not keep the rest on the host; a stage (early work) runs only after what it waits for
 * succeeded, and what it could not do is left to its step's down. The first error (in the graph's order) is
 * raised at the end.
 */
export async function pipelineDown(ctx: Ctx, modules: Record<StepName, StepModule> = STEP_MODULES): Promise<{ steps: StepRun[] }> {
  const steps: StepRun[] = [];
  const outcomes = await schedule(
    GRAPH.down,
    async (t) => {
      const m = modules[t.step];
      if (m.applies && !m.applies(ctx, 'down')) return;
      if (t.stage) {
        // early work yields first, so the tasks started in the same round are handed off before it
        await new Promise((r) => setImmediate(r));
        return stageOf(m, t)(ctx);
      }
      const span = ctx.log.step(`${t.step} down`);
      try {
        const result = await m.down(ctx);
        steps.push({ step: t.step, durationMs: span.done(), result });
      } catch (e) {
        span.fail();
        ctx.log.error(String((e as Error).message ?? e));
        throw e;
      }
    },
    (t, after) => !t.stage || after.every((o) => o.ok),
  );
  const failed = GRAPH.down.find((t) => !t.stage && !outcomes.get(taskId(t))?.ok);
  if (failed) throw (outcomes.get(taskId(failed)) as { error?: unknown }).error;
  // what each step's down returned (verify's: the leak audit's empty list), in the order down runs them
  const order = stepOrder('down');
  return { steps: steps.sort((a, b) => order.indexOf(a.step) - order.indexOf(b.step)) };
}
