import { LockBusyError, LockFileError, lockFile } from '@cni-demo/flock';
import { UserError } from './errors.js';

/** Is there a process with this pid (one we may not signal counts)? */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exclusive lock on `file` (flock(2), through @cni-demo/flock): it dies with its holder, so a run killed
 * with SIGKILL never blocks the next one, and there is no pid file to misread (an empty file, a pid reused)
 * and no stale lock to break, so two waiters can never both take it. A busy lock is tried again with backoff
 * until `waitMs` runs out (0: refuse at once), then refused naming the holder's pid. A lock path that can
 * never be a lock (a folder, a symlink, a read-only or unmakeable folder) is refused at once. A folder that
 * another process removes while we wait (a parallel down tidying the state root) is made again.
 * The release is synchronous and removes the lock file, so the caller may remove the folder right after.
 */
export async function acquireLock(file: string, opts: { waitMs?: number; what?: string } = {}): Promise<() => void> {
  const what = opts.what ?? file;
  try {
    const held = await lockFile(file, { mode: 'exclusive', waitMs: opts.waitMs ?? 0 });
    return () => held.releaseSync();
  } catch (e) {
    if (e instanceof LockBusyError) {
      const who = e.holders.length > 0 ? `process ${e.holders.join(', ')}` : 'another process';
      throw new UserError(`${what} is in use by ${who}${e.waitedMs > 0 ? ` (waited ${e.waitedMs} ms)` : ''}`, {
        hint: 'wait for that run to finish (--lock-wait-ms waits for it), or use another --id for a second instance',
      });
    }
    if (e instanceof LockFileError) throw new UserError(`${what}: lock file ${e.file} ${e.why}`, { hint: e.fix });
    throw e;
  }
}

export async function withLock<T>(file: string, fn: () => Promise<T>, opts: { waitMs?: number; what?: string } = {}): Promise<T> {
  const release = await acquireLock(file, opts);
  try {
    return await fn();
  } finally {
    release();
  }
}
