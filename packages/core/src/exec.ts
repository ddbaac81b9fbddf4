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

/** Output beyond this (stdout and stderr together) stops the command: nothing the demo runs prints near it. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export function createExec(hooks: ExecHooks = {}): Exec {
  return async (cmd, args = [], opts = {}) => {
    const argv = [cmd, ...args];
    hooks.onCommand?.(quoteArgv(argv));
    if (opts.output) return spawnTo(argv, opts, opts.output);
    const r = await spawnCollect(argv, opts);
    if (r.failed && !opts.allowFail) {
      throw new CommandError({
        argv,
        exitCode: r.exitCode < 0 ? undefined : r.exitCode,
        signal: r.signal,
        stdout: r.stdout,
        stderr: r.stderr,
        durationMs: r.durationMs,
        timedOut: r.timedOut,
      });
    }
    return { argv, stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, durationMs: r.durationMs };
  };
}

/** execa's default, kept: one trailing newline (or CRLF) is not part of a command's answer. */
function stripFinalNewline(s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2);
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}

/**
 * Runs argv (no shell) with node:child_process directly, collecting both outputs. No library in between: a
 * command costs one spawn and two pipes, and the CLI loads no stream machinery it never uses (Node's start
 * is part of every step's time). A command that cannot start at all (ENOENT, EACCES) is thrown at once.
 */
function spawnCollect(
  argv: string[],
  opts: ExecOptions,
): Promise<{ stdout: string; stderr: string; exitCode: number; signal?: string; timedOut: boolean; failed: boolean; durationMs: number }> {
  const [cmd = '', ...args] = argv;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let overflow = false;
    let timedOut = false;
    const collect = (into: Buffer[]) => (b: Buffer) => {
      size += b.length;
      if (size <= MAX_OUTPUT_BYTES) into.push(b);
      else if (!overflow) {
        overflow = true;
        child.kill('SIGKILL');
      }
    };
    child.stdout?.on('data', collect(out));
    child.stderr?.on('data', collect(err));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      // after a start, an error is a failed kill or a pipe: the close event still reports the outcome
      if (child.pid !== undefined) return;
      if (timer) clearTimeout(timer);
      const stderr = e.code === 'ENOENT' ? `${cmd}: command not found` : String(e);
      reject(new CommandError({ argv, stdout: '', stderr, durationMs: performance.now() - started }));
    });
    if (opts.input !== undefined && child.stdin) {
      // a command that exits without reading its input closes the pipe: that is its answer, not an error
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (child.pid === undefined) return;
      const text = (bs: Buffer[]) => {
        const t = Buffer.concat(bs).toString('utf8');
        return opts.keepFinalNewline ? t : stripFinalNewline(t);
      };
      const stderr = text(err);
      const exitCode = code ?? -1;
      resolve({
        stdout: text(out),
        stderr: overflow ? `${stderr}\n(output beyond ${MAX_OUTPUT_BYTES} bytes: stopped)`.trimStart() : stderr,
        exitCode,
        ...(signal ? { signal } : {}),
        timedOut,
        failed: exitCode !== 0 || timedOut || overflow,
        durationMs: performance.now() - started,
      });
    });
  });
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
 * descriptor goes straight to the child. A pipe that we read would be kept open by the container, and the
 * call would never end.
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
