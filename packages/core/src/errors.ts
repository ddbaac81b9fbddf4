/**
 * Two kinds of failure, kept apart so the entry point can print each well:
 * a UserError is something the user can fix (message + hint, no stack),
 * a CommandError is a system command that failed (argv to paste, exit code, stderr tail).
 */
/**
 * Exit codes, the same for cni-demo, cni-tool and every step script: 2 when the command line or the config
 * is wrong (nothing was tried), 1 when the run failed (the host, the state, a command).
 */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class UserError extends Error {
  override name = 'UserError';
  readonly hint: string | undefined;
  readonly field: string | undefined;
  constructor(message: string, opts: { hint?: string; field?: string } = {}) {
    super(message);
    this.hint = opts.hint;
    this.field = opts.field;
  }
}

/** A problem with how the command was called (a missing argument, an unknown subcommand): exit 2. */
export class UsageError extends UserError {
  override name = 'UsageError';
}

/** The exit code for an error: 2 for a usage error, 1 for anything else. */
export function exitCodeOf(e: unknown): number {
  return e instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
}

/** Several problems found at once (preflight, config validation): all are reported together. */
export class UserErrors extends UserError {
  override name = 'UserErrors';
  readonly problems: UserError[];
  constructor(problems: UserError[], headline: string) {
    super(`${headline}:\n${problems.map((p) => `  - ${p.message}${p.hint ? `\n    fix: ${p.hint}` : ''}`).join('\n')}`);
    this.problems = problems;
  }
}

export class CommandError extends Error {
  override name = 'CommandError';
  readonly argv: string[];
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  constructor(opts: {
    argv: string[];
    exitCode?: number | undefined;
    signal?: string | undefined;
    stdout: string;
    stderr: string;
    durationMs: number;
    timedOut?: boolean;
    /** stopped because it printed more than the caller's cap */
    outputCapped?: boolean;
  }) {
    const tail = lastLines(opts.stderr || opts.stdout, 8);
    const why = opts.timedOut
      ? 'timed out'
      : opts.outputCapped
        ? 'was stopped for printing too much'
        : opts.signal
          ? `was killed by ${opts.signal}`
          : `exited with code ${opts.exitCode}`;
    super(`command ${why} after ${Math.round(opts.durationMs)} ms: ${quoteArgv(opts.argv)}${tail ? `\n${indent(tail)}` : ''}`);
    this.argv = opts.argv;
    this.exitCode = opts.exitCode;
    this.signal = opts.signal;
    this.stdout = opts.stdout;
    this.stderr = opts.stderr;
    this.durationMs = opts.durationMs;
  }
}

export function lastLines(text: string, n: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

/** POSIX-shell quoting, so a printed command can be pasted into a terminal as it ran. */
export function quoteArg(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quoteArg).join(' ');
}
