import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { CommandError, lastLines, quoteArgv } from './errors.js';

export interface ExecOptions {
  input?: string;
  /** added to the inherited environment */
  env?: Record<string, string>;
  /** resolve with the failing result instead of throwing CommandError */
  allowFail?: boolean;
  timeoutMs?: number;
  cwd?: string;
  /** send the child's stdout and stderr to this file (for processes that outlive the call, like runc create) */
  outputFile?: string;
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

export function createExec(hooks: ExecHooks = {}): Exec {
  return async (cmd, args = [], opts = {}) => {
    const argv = [cmd, ...args];
    hooks.onCommand?.(quoteArgv(argv));
    if (opts.outputFile) return spawnToFile(argv, opts, opts.outputFile);
    const r = await spawnCollect(argv, opts);
    const { stdout, stderr, durationMs } = r;
    if (r.startError) {
      // the command could not start at all (ENOENT, EACCES)
      throw new CommandError({
        argv,
        stdout,
        stderr: r.startError.code === 'ENOENT' ? `${cmd}: command not found` : String(r.startError),
        durationMs,
      });
    }
    const result: ExecResult = { argv, stdout, stderr, exitCode: r.exitCode ?? -1, durationMs };
    if ((r.timedOut || r.signal || result.exitCode !== 0) && !opts.allowFail) {
      throw new CommandError({
        argv,
        exitCode: r.exitCode ?? undefined,
        signal: r.signal ?? undefined,
        stdout,
        stderr,
        durationMs,
        timedOut: r.timedOut,
      });
    }
    return result;
  };
}

interface Collected {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  startError?: NodeJS.ErrnoException;
}

const stripFinalNewline = (s: string) => s.replace(/\r?\n$/, '');

/**
 * node:child_process directly (it used to be execa, whose import alone cost ~0.3 s per process on the
 * 2-core test machine, paid by every step script): the environment is extended, the final newline of
 * stdout/stderr is stripped, and on timeout the child gets SIGKILL.
 */
function spawnCollect(argv: string[], opts: ExecOptions): Promise<Collected> {
  const [cmd = '', ...args] = argv;
  const started = performance.now();
  return new Promise<Collected>((resolve) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    let startError: NodeJS.ErrnoException | undefined;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      // spawn failures arrive here and "close" still follows
      if (child.pid === undefined) startError = e;
    });
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input);
    }
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        stdout: stripFinalNewline(Buffer.concat(out).toString('utf8')),
        stderr: stripFinalNewline(Buffer.concat(err).toString('utf8')),
        exitCode: code,
        signal,
        timedOut,
        durationMs: performance.now() - started,
        ...(startError ? { startError } : {}),
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
 * For a process whose children outlive it (runc create leaves the container's init holding its stdio):
 * the file's fd goes straight to the child. a piped target would be pumped through a pipe, which the
 * container would keep open, and the call would never end.
 */
function spawnToFile(argv: string[], opts: ExecOptions, file: string): Promise<ExecResult> {
  const [cmd = '', ...args] = argv;
  const fd = openSync(file, 'a', 0o600);
  const started = performance.now();
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', fd, fd],
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
      closeSync(fd);
      reject(new CommandError({ argv, stdout: '', stderr: String(e), durationMs: performance.now() - started }));
    });
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      closeSync(fd);
      const durationMs = performance.now() - started;
      let output = '';
      try {
        output = lastLines(readFileSync(file, 'utf8'), 20);
      } catch {
        /* unreadable log: the exit code still tells */
      }
      const result: ExecResult = { argv, stdout: '', stderr: output, exitCode: code ?? -1, durationMs };
      if ((code !== 0 || timedOut) && !opts.allowFail) {
        reject(new CommandError({ argv, exitCode: code ?? undefined, signal: signal ?? undefined, stdout: '', stderr: result.stderr, durationMs, timedOut }));
      } else resolve(result);
    });
  });
}
