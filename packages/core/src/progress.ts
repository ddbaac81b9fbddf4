/**
 * Progress for work over many containers: a bar with a counter and an ETA redrawn in place on a
 * terminal, plain "label i/n" lines otherwise (logs, CI, pipes), so nothing is lost when not a TTY.
 */
export interface Progress {
  /** one item finished (ok or not) */
  tick(detail?: string): void;
  /** ends the bar with a final line */
  done(): void;
}

export interface ProgressOptions {
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** force TTY mode (tests) */
  tty?: boolean;
  quiet?: boolean;
  /** a plain line every `every` items when not a TTY (default: about 10 lines in all) */
  every?: number;
  now?: () => number;
}

export function formatEta(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--';
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function createProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const now = opts.now ?? (() => performance.now());
  const started = now();
  const every = opts.every ?? Math.max(1, Math.ceil(total / 10));
  let count = 0;
  let finished = false;
  const line = () => {
    const elapsed = now() - started;
    const eta = count > 0 ? (elapsed / count) * (total - count) : Number.NaN;
    return { elapsed, eta };
  };
  const draw = () => {
    const { eta } = line();
    const width = 24;
    const filled = total > 0 ? Math.round((count / total) * width) : width;
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    stream.write(`\r${label} [${bar}] ${count}/${total} eta ${formatEta(eta)}\x1b[K`);
  };
  if (!opts.quiet && total > 1 && tty) draw();
  return {
    tick(detail) {
      count++;
      if (opts.quiet || total <= 1) return;
      if (tty) draw();
      else if (count % every === 0 || count === total) {
        const { eta } = line();
        stream.write(`${label} ${count}/${total}${count < total ? ` eta ${formatEta(eta)}` : ''}${detail ? ` ${detail}` : ''}\n`);
      }
    },
    done() {
      if (finished) return;
      finished = true;
      if (opts.quiet || total <= 1) return;
      if (tty) stream.write(`\r${label} ${count}/${total} in ${formatEta(line().elapsed)}\x1b[K\n`);
    },
  };
}

/**
 * Runs `fn` over `items` with at most `limit` running at once; results keep the input order. Every item
 * is tried; the first error is thrown after all settled, so a failure never leaves work running unseen.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let firstError: { e: unknown } | undefined;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T, i);
      } catch (e) {
        firstError ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (firstError) throw firstError.e;
  return out;
}
