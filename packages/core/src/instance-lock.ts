import { rmdirSync, rmSync } from 'node:fs';
import type { Ctx } from './context.js';
import { UserError } from './errors.js';
import { withLock } from './lock.js';
import { STEPS } from './graph.js';

/**
 * One run at a time per instance (--id): a second run of the same name waits up to lockWaitMs for the
 * first (0: refuses at once), then refuses naming the owner's pid. The lock (flock, see lock.ts) dies with a
 * run killed by SIGKILL, so the next run goes ahead. Different ids lock different files, so they never wait
 * on each other. Steps of one down run in parallel under turbo, each taking the lock in turn: the last to
 * leave removes the state root, and one that finds it gone while waiting makes it again.
 */
export async function withInstanceLock<T>(ctx: Ctx, action: 'up' | 'down', fn: () => Promise<T>): Promise<T> {
  // a non-root run cannot write the lock under a root-owned state folder; the step refuses it itself
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return fn();
  try {
    return await withLock(
      ctx.names.lockFile,
      async () => {
        if (action === 'down') setAsideCorruptState(ctx);
        return fn();
      },
      { waitMs: ctx.config.lockWaitMs, what: `instance "${ctx.config.id}"` },
    );
  } finally {
    // the lock was the last thing in the state root: leave no empty folder behind (rmdir fails if it is not)
    try {
      rmdirSync(ctx.config.stateDir);
    } catch {
      /* absent, not empty, or in use: fine */
    }
  }
}

/**
 * down finds every object by its derived name, so a state file that cannot be parsed (a crash of another
 * tool, a hand edit) must not stop it: it holds nothing usable, so it is removed with a warning and each
 * step's down then works as if it had none.
 */
export function setAsideCorruptState(ctx: Ctx): string[] {
  const moved: string[] = [];
  for (const step of STEPS) {
    try {
      ctx.state.read(step);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      const file = ctx.state.file(step);
      rmSync(file, { force: true });
      ctx.log.warn(`state file ${file} is corrupt; removed it and tearing down by derived names instead`);
      moved.push(file);
    }
  }
  return moved;
}
