import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { CniError, ErrorCode } from './errors.js';
import type { Verb, VersionInfo } from './types.js';

/** What one plugin run needs: the binary, the environment to add and the stdin bytes. */
export interface PluginRequest {
  pluginPath: string;
  env: Record<string, string>;
  stdin: Uint8Array;
  timeoutMs?: number;
  /** most bytes read from stdout, and from stderr; past it the plugin's process group is killed (default MAX_PLUGIN_OUTPUT) */
  maxOutputBytes?: number;
  /**
   * run the plugin inside the network namespace pinned at this path (RuntimeOptions.hostNetns): its "host side"
   * (bridge, veth host ends, iptables rules, sysctls) is that namespace; CNI_NETNS is untouched
   */
  hostNetns?: string;
}

/**
 * What is read of a plugin's stdout and of its stderr: far above any real result (a few KiB) or log, far
 * below what would exhaust memory (a plugin printing 700 MB once crashed the runtime at 1.4 GB RSS).
 */
export const MAX_PLUGIN_OUTPUT = 4 * 1024 * 1024;

export interface PluginResponse {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** the stream that went past maxOutputBytes (the plugin was killed then) */
  overflow?: 'stdout' | 'stderr';
}

/** The process boundary: injectable so tests can record requests without running anything. */
export type PluginExec = (req: PluginRequest) => Promise<PluginResponse>;

/** libcni's FindInPath: first regular file named `type` in the directories, in order. */
export function findInPath(type: string, dirs: readonly string[]): string {
  if (!type) throw new CniError({ code: ErrorCode.InvalidNetworkConfig, msg: 'no plugin name provided' });
  if (type.includes('/') || type.includes('\\') || type.includes('..')) {
    throw new CniError({ code: ErrorCode.InvalidNetworkConfig, msg: `invalid plugin name: ${type}` });
  }
  if (dirs.length === 0) throw new CniError({ code: ErrorCode.InvalidNetworkConfig, msg: 'no paths provided' });
  for (const d of dirs) {
    const full = path.join(d, type);
    try {
      if (statSync(full).isFile()) return full;
    } catch {
      /* not here; try the next directory */
    }
  }
  throw new CniError({
    code: ErrorCode.InvalidNetworkConfig,
    msg: `failed to find plugin "${type}" in path [${dirs.join(' ')}]`,
    plugin: type,
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** libcni retries "text file busy" (a binary being replaced) up to 5 more times, 1 s apart. */
async function withBusyRetry(once: () => Promise<PluginResponse>): Promise<PluginResponse> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await once();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ETXTBSY' && attempt < 5) {
        await sleep(1000);
        continue;
      }
      throw e;
    }
  }
}

/**
 * Runs a plugin with child_process.spawn in its own process group so that a timeout kills everything it
 * spawned, and stops waiting on its pipes then (a grandchild holding stdout must not stall us). Retries
 * "text file busy".
 */
export const spawnPluginExec: PluginExec = (req) => withBusyRetry(() => spawnOnce(req));

/** What CniRuntime uses unless given `exec`: spawn. */
export const defaultPluginExec: PluginExec = spawnPluginExec;

function spawnOnce(req: PluginRequest): Promise<PluginResponse> {
  return new Promise((resolve, reject) => {
    // nsenter enters the namespace and execs the plugin in the same process: the group, the pipes and the
    // timeout work as for the plugin itself; only the network namespace differs (paths resolve as before)
    const [cmd, args] = req.hostNetns ? ['nsenter', [`--net=${req.hostNetns}`, '--', req.pluginPath]] : [req.pluginPath, []];
    const child = spawn(cmd as string, args as string[], {
      env: { ...process.env, ...req.env },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const cap = req.maxOutputBytes ?? MAX_PLUGIN_OUTPUT;
    const size = { stdout: 0, stderr: 0 };
    let overflow: 'stdout' | 'stderr' | undefined;
    let timedOut = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve({
        exitCode,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        ...(overflow ? { overflow } : {}),
      });
    };
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    // the group is dead; do not wait for pipes a reparented process might still hold
    const abandon = () => {
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(null, 'SIGKILL');
      }, 200).unref();
    };
    const collect = (name: 'stdout' | 'stderr', into: Buffer[]) => (d: Buffer) => {
      if (overflow) return;
      const room = cap - size[name];
      size[name] += d.length;
      if (d.length <= room) {
        into.push(d);
        return;
      }
      into.push(d.subarray(0, Math.max(0, room)));
      overflow = name;
      killGroup();
      child.stdout.pause();
      child.stderr.pause();
      abandon();
    };
    child.stdout.on('data', collect('stdout', out));
    child.stderr.on('data', collect('stderr', err));
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => finish(code, signal));
    if (req.timeoutMs && req.timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        killGroup();
        abandon();
      }, req.timeoutMs);
    }
    child.stdin.on('error', () => {
      /* a plugin that exits without reading stdin closes the pipe: not our error */
    });
    child.stdin.end(Buffer.from(req.stdin));
  });
}

/** Turns a failed plugin run into a CniError the way libcni's pluginErr does, keeping more context. */
export function decodePluginError(
  type: string,
  verb: Verb,
  r: PluginResponse,
  timeoutMs?: number,
  maxOutputBytes = MAX_PLUGIN_OUTPUT,
): CniError {
  if (r.overflow) {
    return new CniError({
      code: ErrorCode.IOFailure,
      msg: `printed more than ${maxOutputBytes} bytes on ${r.overflow} (a result is a few KiB); it was killed with its process group and its output discarded`,
      plugin: type,
      verb,
      stderr: r.overflow === 'stderr' ? `${r.stderr.slice(0, 4096)}\n[… cut: more than ${maxOutputBytes} bytes]` : r.stderr.slice(0, 65536),
    });
  }
  if (r.timedOut) {
    return new CniError({
      code: ErrorCode.TryAgainLater,
      msg: `timed out after ${timeoutMs} ms and was killed`,
      plugin: type,
      verb,
      stderr: r.stderr,
    });
  }
  const stdout = r.stdout.trim();
  if (stdout === '') {
    const msg = r.stderr.trim()
      ? `netplugin failed: ${JSON.stringify(r.stderr.trim())}`
      : `netplugin failed with no error message: ${r.signal ? `signal: ${r.signal}` : `exit status ${r.exitCode}`}`;
    return new CniError({ code: ErrorCode.Unknown, msg, plugin: type, verb, stderr: r.stderr });
  }
  let obj: unknown;
  try {
    obj = JSON.parse(stdout);
  } catch {
    return new CniError({
      code: ErrorCode.Unknown,
      msg: `netplugin failed but error parsing its diagnostic message ${JSON.stringify(stdout.slice(0, 400))}`,
      plugin: type,
      verb,
      stderr: r.stderr,
    });
  }
  const o = (obj ?? {}) as Record<string, unknown>;
  return new CniError({
    code: typeof o.code === 'number' ? o.code : ErrorCode.Unknown,
    msg: typeof o.msg === 'string' ? o.msg : '',
    details: typeof o.details === 'string' && o.details !== '' ? o.details : undefined,
    plugin: type,
    verb,
    stderr: r.stderr,
  });
}

/**
 * Decodes a VERSION answer (libcni pkg/version PluginDecoder): cniVersion is required; supportedVersions
 * too, except from a 0.2.0 plugin, which implies 0.1.0 and 0.2.0.
 */
export function decodeVersionInfo(type: string, stdout: string): VersionInfo {
  const bad = (msg: string) => new CniError({ code: ErrorCode.DecodingFailure, msg, plugin: type, verb: 'VERSION' });
  let v: unknown;
  try {
    v = JSON.parse(stdout);
  } catch (e) {
    throw bad(`decoding version info: ${(e as Error).message} in ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('decoding version info: not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.cniVersion !== 'string' || o.cniVersion === '') throw bad('decoding version info: missing field cniVersion');
  if (o.supportedVersions === undefined) {
    if (o.cniVersion === '0.2.0') return { cniVersion: '0.2.0', supportedVersions: ['0.1.0', '0.2.0'] };
    throw bad('decoding version info: missing field supportedVersions');
  }
  if (!Array.isArray(o.supportedVersions) || o.supportedVersions.some((x) => typeof x !== 'string')) {
    throw bad('decoding version info: supportedVersions must be an array of strings');
  }
  return { cniVersion: o.cniVersion, supportedVersions: o.supportedVersions as string[] };
}

/** A plugin that could not be started at all (EACCES, ENOEXEC): what Go reports as fork/exec failure. */
export function spawnFailure(type: string, verb: Verb, pluginPath: string, e: unknown): CniError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'EACCES' ? 'permission denied' : (err.message ?? String(e));
  return new CniError({ code: ErrorCode.Internal, msg: `fork/exec ${pluginPath}: ${why}`, plugin: type, verb });
}
