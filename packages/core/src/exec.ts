import { spawn } from 'node:child_process';
import type { Stream } from 'node:stream';
import { CommandError, lastLines, quoteArgv } from './errors.js';

export interface ExecOptions {
  input?: string;
  /** added to the inherited environment */
  env?: Record<string, string>;
  /** resolve with the failing result instead of throwing CommandError */
  allowFail?: boolean;
  timeoutMs?: number;
  cwd?: string;
  /**
   * send the child's stdout and stderr here instead of to us (for processes that outlive the call, like runc
   * create, whose container keeps them): a descriptor or a stream that has one (a file, a pipe)
   */
  output?: ExecOutput;
  /** keep stdout byte for byte (a raw manifest is hashed: a stripped newline would change its digest) */
  keepFinalNewline?: boolean;
  /** characters kept of stdout, and of stderr, before the command is stopped and fails (default MAX_OUTPUT_CHARS) */
  maxOutputChars?: number;
}

export interface ExecOutput {
  to: number | Stream;
  /** the last lines written there, for the error when the command fails */
  tail: () => Promise<string>;
}

export interface ExecResult {
  argv: string[];
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
}

/** Every system call goes through one of these, so tests can record argv, env and stdin. */
export type Exec = (cmd: string, args?: readonly string[], opts?: ExecOptions) => Promise<ExecResult>;

export interface ExecHooks {
  /** called before each command with its pasteable form */
  onCommand?: (quoted: string) => void;
}

/**
 * Output beyond this on stdout or on stderr stops the command (killed, and it fails saying so) unless the caller
 * sets its own cap: nothing the demo runs prints near it, and a runaway command must not grow the process
 * without bound.
 */
export const MAX_OUTPUT_CHARS = 64 * 1024 * 1024;

export function createExec(hooks: ExecHooks = {}): Exec {
  // execa's ~150 modules are evaluated as soon as the process is idle (a step's first wait is its instance lock),
  // not when its first command is already due
  setImmediate(() => loadExeca().catch(() => undefined));
  return async (cmd, args = [], opts = {}) => {
    const argv = [cmd, ...args];
    hooks.onCommand?.(quoteArgv(argv));
    if (opts.output) return spawnTo(argv, opts, opts.output);
    const { execa } = await loadExeca();
    const cap = opts.maxOutputChars ?? MAX_OUTPUT_CHARS;
    const started = performance.now();
    const r = await execa(cmd, args, {
      reject: false,
      // stdin is closed unless there is input: a command that reads it sees the end at once instead of waiting
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
      // a timed-out or runaway command is stopped for sure, not asked to stop
      killSignal: 'SIGKILL',
      maxBuffer: cap,
      stripFinalNewline: !opts.keepFinalNewline,
    });
    const durationMs = performance.now() - started;
    const stdout = typeof r.stdout === 'string' ? r.stdout : '';
    let stderr = typeof r.stderr === 'string' ? r.stderr : '';
    if (r.failed && r.exitCode === undefined && !r.timedOut && !r.signal && !r.isMaxBuffer) {
      // the command could not start at all (ENOENT, EACCES): no result to hand back, even with allowFail
      const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
      throw new CommandError({
        argv,
        stdout,
        stderr: code === 'ENOENT' ? `${cmd}: command not found` : String(r.cause ?? r.message),
        durationMs,
      });
    }
    if (r.isMaxBuffer) stderr = `${stderr}\n(output beyond ${cap} characters: stopped)`.trimStart();
    // stopped for its output: even when it had exited by then, what it printed is cut, so it is no success
    const exitCode = r.isMaxBuffer ? -1 : (r.exitCode ?? -1);
    if (r.failed && !opts.allowFail) {
      throw new CommandError({
        argv,
        exitCode: exitCode < 0 ? undefined : exitCode,
        signal: r.signal,
        stdout,
        stderr,
        durationMs,
        timedOut: r.timedOut,
        outputCapped: r.isMaxBuffer,
      });
    }
    return { argv, stdout, stderr, exitCode, durationMs };
  };
}

/**
 * execa is loaded once an Exec exists, not with this module: a process that makes none (usage, --help, a bad
 * config refused before anything changes) does not pay for it. In a bundle the import is inlined, so this only
 * defers its evaluation.
 */
let execaModule: Promise<typeof import('execa')> | undefined;
function loadExeca(): Promise<typeof import('execa')> {
  execaModule ??= import('execa');
  return execaModule;
}

export interface RecordedCall {
  argv: string[];
  opts: ExecOptions;
}

/**
 * An Exec for unit tests: records every call and answers from a handler (default: success, empty output).
 */
export function recordingExec(
  handler: (argv: string[], opts: ExecOptions) => Partial<ExecResult> | undefined = () => undefined,
): Exec & { calls: RecordedCall[] } {
  const calls: RecordedCall[] = [];
  const fn = (async (cmd: string, args: readonly string[] = [], opts: ExecOptions = {}) => {
    const argv = [cmd, ...args];
    calls.push({ argv, opts });
    const r = handler(argv, opts) ?? {};
    const result: ExecResult = {
      argv,
      stdout: r.stdout ?? '',
      stderr: r.stderr ?? '',
      exitCode: r.exitCode ?? 0,
      durationMs: 0,
    };
    if (result.exitCode !== 0 && !opts.allowFail) {
      throw new CommandError({ argv, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, durationMs: 0 });
    }
    return result;
  }) as Exec & { calls: RecordedCall[] };
  fn.calls = calls;
  return fn;
}

/**
 * For a process whose children outlive it (runc create leaves the container's init holding its stdio): the
 * descriptor goes straight to the child. execa would pump it through a pipe of its own, which the container
 * would keep open, and the call would never end.
 */
function spawnTo(argv: string[], opts: ExecOptions, output: ExecOutput): Promise<ExecResult> {
  const [cmd = '', ...args] = argv;
  const started = performance.now();
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', output.to, output.to],
      env: { ...process.env, ...opts.env },
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new CommandError({ argv, stdout: '', stderr: String(e), durationMs: performance.now() - started }));
    });
    child.on('exit', async (code, signal) => {
      if (timer) clearTimeout(timer);
      const durationMs = performance.now() - started;
      const failed = code !== 0 || timedOut;
      // the output is read back only for a failure's message
      const stderr = failed ? lastLines(await output.tail().catch(() => ''), 20) : '';
      const result: ExecResult = { argv, stdout: '', stderr, exitCode: code ?? -1, durationMs };
      if (failed && !opts.allowFail) {
        reject(
          new CommandError({ argv, exitCode: code ?? undefined, signal: signal ?? undefined, stdout: '', stderr, durationMs, timedOut }),
        );
      } else resolve(result);
    });
  });
}
