import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
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
  /** keep stdout byte for byte (a raw manifest is hashed: a stripped newline would change its digest) */
  keepFinalNewline?: boolean;
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
    const started = performance.now();
    if (opts.outputFile) return spawnToFile(argv, opts, opts.outputFile);
    const r = await execa(cmd, args, {
      reject: false,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.keepFinalNewline ? { stripFinalNewline: false } : {}),
      stdin: opts.input !== undefined ? 'pipe' : 'ignore',
    });
    const durationMs = performance.now() - started;
    const stdout = typeof r.stdout === 'string' ? r.stdout : '';
    const stderr = typeof r.stderr === 'string' ? r.stderr : '';
    if (r.failed && r.exitCode === undefined && !r.timedOut && !r.signal) {
      // the command could not start at all (ENOENT, EACCES)
      const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
      throw new CommandError({
        argv,
        stdout,
        stderr: code === 'ENOENT' ? `${cmd}: command not found` : String(r.cause ?? r.message),
        durationMs,
      });
    }
    const result: ExecResult = { argv, stdout, stderr, exitCode: r.exitCode ?? -1, durationMs };
    if ((r.failed || result.exitCode !== 0) && !opts.allowFail) {
      throw new CommandError({
        argv,
        exitCode: r.exitCode,
        signal: r.signal,
        stdout,
        stderr,
        durationMs,
        timedOut: r.timedOut,
      });
    }
    return result;
  };
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
 * the file's fd goes straight to the child. execa would pump a { file } target through a pipe, which the
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
        reject(
          new CommandError({
            argv,
            exitCode: code ?? undefined,
            signal: signal ?? undefined,
            stdout: '',
            stderr: result.stderr,
            durationMs,
            timedOut,
          }),
        );
      } else resolve(result);
    });
  });
}
