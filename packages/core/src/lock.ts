import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
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
 * An exclusive lock as a file holding the owner's pid. A lock whose owner died (SIGKILL, crash) is taken
 * over, so a killed run never blocks the next one.
 */
export async function acquireLock(file: string, opts: { waitMs?: number; what?: string } = {}): Promise<() => void> {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + (opts.waitMs ?? 0);
  for (;;) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(file, 'utf8').trim());
    } catch {
      /* vanished between open and read: try again */
      continue;
    }
    if (!Number.isInteger(owner) || owner <= 0 || !pidAlive(owner)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new UserError(`${opts.what ?? file} is in use by process ${owner}`, {
        hint: 'wait for that run to finish, or use another --id for a second instance',
      });
    }
    await new Promise((r) => setTimeout(r, 100));
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
