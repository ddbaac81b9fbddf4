import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import type { StepName } from './graph.js';

/**
 * One JSON file per step under the instance's run folder, written only after the step succeeded,
 * atomically, mode 0600 in a 0700 folder.
 */
export class StateStore {
  constructor(readonly dir: string) {}

  file(step: StepName): string {
    return path.join(this.dir, `${step}.json`);
  }

  has(step: StepName): boolean {
    return existsSync(this.file(step));
  }

  /** Reads a step's state, or undefined when it has none. A corrupt file is an error naming it. */
  read<T>(step: StepName): T | undefined {
    const file = this.file(step);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new UserError(`state file ${file} is corrupt (not JSON)`, {
        hint: `run "down" to tear down by derived names, or remove ${file} and run ${step} again`,
      });
    }
  }

  /** Reads the state of a step this one needs; missing state is a clear stop. */
  require<T>(step: StepName, by: string): T {
    const value = this.read<T>(step);
    if (value === undefined) {
      throw new UserError(`${by} needs ${step}, which has not run for this instance (no ${this.file(step)})`, {
        hint: `run ${step} first: pnpm --filter @cni-demo/${step} run up (or the whole demo: pnpm turbo run demo)`,
      });
    }
    return value;
  }

  write(step: StepName, value: unknown): void {
    this.ensureDir();
    writeFileAtomic(this.file(step), `${JSON.stringify(value, null, 2)}\n`, 0o600);
  }

  remove(step: StepName): void {
    rmSync(this.file(step), { force: true });
  }

  ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }

  /** Removes the instance folder, and the state root above it, once they are empty. */
  removeDirIfEmpty(): void {
    // the step timings only describe steps whose state is here: with the last state file they go too
    try {
      const left = readdirSync(this.dir);
      if (left.length > 0 && left.every((f) => f === 'timings.jsonl')) rmSync(path.join(this.dir, 'timings.jsonl'), { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const dir of [this.dir, path.dirname(this.dir)]) {
      try {
        if (readdirSync(dir).length > 0) return;
        rmdirSync(dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw e;
      }
    }
  }
}
