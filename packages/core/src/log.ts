import { printable } from './text.js';

/**
 * Human output goes to stderr (stdout carries data such as the CNI result). Colours on a TTY unless NO_COLOR
 * is set; FORCE_COLOR turns them on anywhere (a CI log that renders them) and, as Node does, wins over
 * NO_COLOR; FORCE_COLOR=0 turns them off.
 */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** data for stdout (a CNI result, the check table); silenced with the rest when quiet */
  out(text: string): void;
  /** a command about to run, shown with --verbose */
  command(quoted: string): void;
  /** a timed step line: "✔ host-setup up  0.42s" (or ✘ on failure) */
  step(name: string): StepSpan;
  readonly verbose: boolean;
  readonly color: boolean;
  /** nothing is printed (tests): progress bars follow it */
  readonly quiet?: boolean;
}

export interface StepSpan {
  done(detail?: string): number;
  fail(detail?: string): number;
}

export interface LoggerOptions {
  verbose?: boolean;
  /** where lines go (default process.stderr) */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  color?: boolean;
  quiet?: boolean;
}

/** Whether to colour output written to `stream`, from FORCE_COLOR, NO_COLOR, the terminal and TERM. */
export function wantColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return !/^(0|false)$/i.test(force);
  if (env.NO_COLOR) return false;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

const paint = (on: boolean, code: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const color = opts.color ?? wantColor(stream, process.env);
  const green = paint(color, 32);
  const red = paint(color, 31);
  const yellow = paint(color, 33);
  const dim = paint(color, 2);
  const write = (line: string) => {
    if (!opts.quiet) stream.write(`${line}\n`);
  };
  // messages may quote what an image or plugin said: control characters are shown, never acted on; our
  // own colours are added after
  const safe = (m: string) => printable(m, { keepNewlines: true });
  return {
    verbose: Boolean(opts.verbose),
    color,
    quiet: Boolean(opts.quiet),
    info: (m) => write(safe(m)),
    out: (t) => {
      if (!opts.quiet) process.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
    },
    warn: (m) => write(yellow(`warning: ${safe(m)}`)),
    error: (m) => write(red(safe(m))),
    command: (q) => {
      if (opts.verbose) write(dim(`$ ${q}`));
    },
    step(name) {
      const started = performance.now();
      const finish = (ok: boolean, detail?: string) => {
        const ms = performance.now() - started;
        const mark = ok ? green('✔') : red('✘');
        write(`${mark} ${name.padEnd(22)} ${(ms / 1000).toFixed(2).padStart(6)}s${detail ? `  ${dim(detail)}` : ''}`);
        return ms;
      };
      return { done: (d) => finish(true, d), fail: (d) => finish(false, d) };
    },
  };
}
