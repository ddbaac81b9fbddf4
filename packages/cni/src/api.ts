import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { type HeldLock, LockBusyError, LockFileError, type LockMode, lockFile, removeLockDirIfEmpty } from '@cni-demo/flock';
import { buildEnv, encodeCniArgs, validateContainerId, validateIfName, withIgnoreUnknown } from './args.js';
import { type CacheEntry, deleteCacheEntry, listCachedAttachments, readCacheEntry, writeCacheEntry } from './cache.js';
import { CniError, CniErrors, ErrorCode } from './errors.js';
import {
  decodePluginError,
  decodeVersionInfo,
  defaultPluginExec,
  findInPath,
  type PluginExec,
  type PluginRequest,
  spawnFailure,
} from './invoke.js';
import { KeyedMutex, RwLock } from './lock.js';
import { type AnyResult, convertResult, parseResult } from './result.js';
import type { NetworkConfigList, PluginConf, RuntimeConf, Verb, VersionInfo } from './types.js';
import { CURRENT_VERSION, versionAtLeast } from './version.js';

export interface RuntimeOptions {
  /** directories searched for plugin binaries, in order; also CNI_PATH */
  pluginDirs: string[];
  /** libcni's cacheDir (results live in <cacheDir>/results); default /var/lib/cni */
  cacheDir?: string;
  /**
   * per plugin run; the whole process group is killed after it. Also bounds the wait for another process's
   * operation on the same attachment, or a GC of the network, to finish. 1 … 2147483647 (Node's timer limit).
   */
  timeoutMs?: number;
  /** replaces the process boundary (tests, or a caller with its own way of starting processes); default spawn */
  exec?: PluginExec;
  /** add IgnoreUnknown=1 to non-empty CNI_ARGS (libcni does not; off by default for the same bytes) */
  ignoreUnknownArgs?: boolean;
  /**
   * The network namespace every plugin runs in, as a pinned path (a bind mount, like `/var/run/netns/<name>`):
   * the plugin is started through `nsenter --net=<hostNetns>`, so that namespace is its host side (where bridge
   * makes the bridge and the veth's host end, where ipMasq's rules and forwarding go), as on another machine.
   * The container's CNI_NETNS is a path and stays as given. Default: the runtime's own namespace.
   */
  hostNetns?: string;
  /**
   * fsync the cache entry before the rename (default true). Off only trades crash safety for the ~5-10 ms
   * an fsync costs per ADD on a busy disk (the bench shows the difference).
   */
  durableCache?: boolean;
}

/** One attachment a GC caller still wants kept (spec 1.1.0 `cni.dev/valid-attachments`). */
export interface GcAttachment {
  containerID: string;
  ifname: string;
}

export interface PluginVersionReport {
  type: string;
  path: string;
  info: VersionInfo;
}

/**
 * The CNI runtime: what libcni's CNIConfig is for Go. One instance may serve many attachments at once:
 * operations on different attachments run in parallel, one attachment's are serialised, GC runs alone.
 */
export class CniRuntime {
  readonly pluginDirs: string[];
  readonly cacheDir: string;
  readonly timeoutMs: number;
  private readonly exec: PluginExec;
  private readonly ignoreUnknownArgs: boolean;
  private readonly durableCache: boolean;
  readonly hostNetns: string | undefined;
  /** cross-process locks (flock): <network>.lock is the GC gate, <network>+<containerId>+<ifName>.lock an attachment */
  readonly locksDir: string;
  // in-process queues in front of the file locks: waiters in this process line up instead of polling
  private readonly perAttachment = new KeyedMutex();
  private readonly gcGate = new RwLock();

  constructor(opts: RuntimeOptions) {
    this.pluginDirs = opts.pluginDirs;
    this.cacheDir = opts.cacheDir ?? '/var/lib/cni';
    this.timeoutMs = checkTimeoutMs(opts.timeoutMs ?? 60_000, 'timeoutMs');
    this.locksDir = path.join(this.cacheDir, 'locks');
    this.exec = opts.exec ?? defaultPluginExec;
    this.ignoreUnknownArgs = opts.ignoreUnknownArgs ?? false;
    this.durableCache = opts.durableCache ?? true;
    this.hostNetns = opts.hostNetns;
  }

  private effective(rt: RuntimeConf): RuntimeConf {
    return this.ignoreUnknownArgs ? { ...rt, args: withIgnoreUnknown(rt.args) } : rt;
  }

  /** Builds the stdin object for one plugin (SPEC "Deriving request configuration"). */
  buildRequest(list: NetworkConfigList, plugin: PluginConf, rt: RuntimeConf | undefined, prevResult?: AnyResult): Record<string, unknown> {
    // capabilities is for the runtime only (spec 1.0.0): libcni leaves it in, we strip it
    const { capabilities, ...rest } = plugin;
    const req: Record<string, unknown> = { ...rest, name: list.name, cniVersion: list.cniVersion };
    delete req.prevResult;
    // plugins reject a prevResult in another version than the request (Debian tuning), so convert always
    if (prevResult) req.prevResult = convertResult(prevResult, list.cniVersion);
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(capabilities ?? {})) {
      if (on === true && rt?.capabilityArgs && cap in rt.capabilityArgs) runtimeConfig[cap] = rt.capabilityArgs[cap];
    }
    if (Object.keys(runtimeConfig).length > 0) req.runtimeConfig = runtimeConfig;
    else delete req.runtimeConfig;
    return req;
  }

  private async runRaw(verb: Verb, plugin: PluginConf, env: Record<string, string>, request: Record<string, unknown>, found?: string) {
    // `found`: looked up by validate() for this operation a moment ago, no need to stat the directories again
    const pluginPath = found ?? findInPath(plugin.type, this.pluginDirs);
    const stdin = Buffer.from(JSON.stringify(request));
    const r = await this.spawn(verb, plugin.type, { pluginPath, env, stdin, timeoutMs: this.timeoutMs, ...this.inNetns() });
    if (r.exitCode !== 0 || r.timedOut || r.overflow) throw decodePluginError(plugin.type, verb, r, this.timeoutMs);
    if (r.stderr) process.stderr.write(r.stderr); // libcni copies a successful plugin's stderr to ours
    return r;
  }

  /** The request's hostNetns, when the runtime has one. */
  private inNetns(): { hostNetns?: string } {
    return this.hostNetns ? { hostNetns: this.hostNetns } : {};
  }

  private async spawn(verb: Verb, type: string, req: PluginRequest) {
    // a namespace that is gone would only show as nsenter's complaint on stderr: say what is wrong instead
    if (req.hostNetns && !existsSync(req.hostNetns)) {
      throw new CniError({
        code: ErrorCode.InvalidNetNS,
        msg: `the plugins' host network namespace ${req.hostNetns} does not exist (RuntimeOptions.hostNetns)`,
        plugin: type,
        verb,
      });
    }
    try {
      return await this.exec(req);
    } catch (e) {
      throw spawnFailure(type, verb, req.pluginPath, e);
    }
  }

  private run(
    verb: Verb,
    list: NetworkConfigList,
    plugin: PluginConf,
    rt: RuntimeConf | undefined,
    prev?: AnyResult,
    found?: Map<string, string>,
  ) {
    const env = buildEnv(verb, rt, this.pluginDirs);
    return this.runRaw(verb, plugin, env, this.buildRequest(list, plugin, rt, prev), found?.get(plugin.type));
  }

  /**
   * Every binary is looked up (and must be executable) before the first one runs: a problem later in the
   * chain then costs nothing to undo. libcni finds each only when its turn comes.
   */
  private findAll(list: NetworkConfigList): Map<string, string> {
    const found = new Map<string, string>();
    const problems: CniError[] = [];
    for (const p of list.plugins) {
      if (found.has(p.type)) continue;
      try {
        const file = findInPath(p.type, this.pluginDirs);
        try {
          accessSync(file, constants.X_OK);
        } catch {
          throw new CniError({
            code: ErrorCode.InvalidNetworkConfig,
            msg: `plugin file ${file} is not executable (chmod +x it or fix the plugin directories)`,
            plugin: p.type,
          });
        }
        found.set(p.type, file);
      } catch (e) {
        problems.push(e as CniError);
      }
    }
    if (problems.length === 1 && problems[0]) throw problems[0];
    if (problems.length > 1) throw new CniErrors(problems, `network "${list.name}": ${problems.length} plugins cannot be run`);
    return found;
  }

  private validate(list: NetworkConfigList, rt: RuntimeConf): Map<string, string> {
    validateContainerId(rt.containerId);
    validateIfName(rt.ifName);
    encodeCniArgs(rt.args);
    return this.findAll(list);
  }

  private key(list: NetworkConfigList, rt: Pick<RuntimeConf, 'containerId' | 'ifName'>): string {
    return `${list.name}\0${rt.containerId}\0${rt.ifName}`;
  }

  /**
   * One attachment's operations are serialised across processes, not only in this one: the network's gate
   * file shared (a GC holds it exclusively), then the attachment's file exclusively, both flock(2) locks
   * that die with their holder. '+' is in neither a network name nor a container id, so names never collide.
   */
  private attachmentOp<T>(list: NetworkConfigList, rt: RuntimeConf, fn: () => Promise<T>): Promise<T> {
    return this.gcGate.shared(() =>
      this.perAttachment.run(this.key(list, rt), async () => {
        const deadline = Date.now() + this.timeoutMs;
        const gate = await this.lock(this.gateFile(list), 'shared', deadline, `network "${list.name}" (a GC of it is running)`);
        try {
          const att = await this.lock(this.attachmentFile(list, rt), 'exclusive', deadline, this.attachmentName(list, rt));
          try {
            return await fn();
          } finally {
            att.releaseSync();
          }
        } finally {
          if (await gate.release()) removeLockDirIfEmpty(this.locksDir);
        }
      }),
    );
  }

  private gateFile(list: NetworkConfigList): string {
    return path.join(this.locksDir, `${list.name}.lock`);
  }

  private attachmentFile(list: NetworkConfigList, rt: Pick<RuntimeConf, 'containerId' | 'ifName'>): string {
    return path.join(this.locksDir, `${list.name}+${rt.containerId}+${rt.ifName}.lock`);
  }

  private attachmentName(list: NetworkConfigList, rt: Pick<RuntimeConf, 'containerId' | 'ifName'>): string {
    return `attachment ${list.name}/${rt.containerId}/${rt.ifName}`;
  }

  /** A file lock waited for until `deadline`; failures become CniErrors that name the holder's pid. */
  private async lock(file: string, mode: LockMode, deadline: number, what: string): Promise<HeldLock> {
    try {
      return await lockFile(file, { mode, waitMs: Math.max(0, deadline - Date.now()) });
    } catch (e) {
      if (e instanceof LockBusyError) {
        const who = e.holders.length > 0 ? `process ${e.holders.join(', ')}` : 'another process';
        throw new CniError({
          code: ErrorCode.TryAgainLater,
          msg: `${what} is busy: ${who} holds its lock ${file}; gave up after ${this.timeoutMs} ms (the runtime's timeout)`,
        });
      }
      if (e instanceof LockFileError) {
        throw new CniError({ code: ErrorCode.IOFailure, msg: `${e.message} (the runtime's locks live in ${this.locksDir})` });
      }
      throw new CniError({ code: ErrorCode.Internal, msg: (e as Error).message });
    }
  }

  /**
   * ADD through the list in order, stopping at the first failure (the CniError names the plugin and
   * verb). The final result is cached (only after the whole chain succeeded) and returned in the list's
   * version. A failed ADD still needs a DEL from the caller: a plugin may have done partial work.
   */
  async addNetworkList(list: NetworkConfigList, rtIn: RuntimeConf): Promise<AnyResult> {
    const rt = this.effective(rtIn);
    const found = this.validate(list, rt);
    return this.attachmentOp(list, rt, async () => {
      let prev: AnyResult | undefined;
      for (const plugin of list.plugins) {
        const r = await this.run('ADD', list, plugin, rt, prev, found);
        prev = parseResult(r.stdout, list.cniVersion, plugin.type);
      }
      const result = convertResult(prev ?? { cniVersion: list.cniVersion }, list.cniVersion);
      writeCacheEntry(
        this.cacheDir,
        {
          kind: 'cniCacheV1',
          containerId: rt.containerId,
          config: Buffer.from(list.bytes).toString('base64'),
          ifName: rt.ifName,
          networkName: list.name,
          netns: rt.netns,
          cniArgs: rt.args ?? [],
          capabilityArgs: rt.capabilityArgs ?? {},
          result,
        },
        { fsync: this.durableCache },
      );
      return result;
    });
  }

  /** The cached final ADD result, in the list's version, or undefined. */
  getCachedResult(list: NetworkConfigList, rt: Pick<RuntimeConf, 'containerId' | 'ifName'>): AnyResult | undefined {
    const e = readCacheEntry(this.cacheDir, list.name, rt.containerId, rt.ifName);
    if (!e?.result) return undefined;
    try {
      return convertResult(e.result, list.cniVersion);
    } catch {
      return undefined;
    }
  }

  /** The whole cache entry (cniCacheV1 fields, or only `result` for a legacy entry), or undefined. */
  getCacheEntry(list: NetworkConfigList, rt: Pick<RuntimeConf, 'containerId' | 'ifName'>): Partial<CacheEntry> | undefined {
    return readCacheEntry(this.cacheDir, list.name, rt.containerId, rt.ifName);
  }

  /** Attachments in the cache (libcni GetCachedAttachments), optionally of one container. */
  getCachedAttachments(containerId?: string): CacheEntry[] {
    return listCachedAttachments(this.cacheDir, containerId);
  }

  /**
   * DEL in reverse order with the cached result as prevResult (0.4.0+). Idempotent: a missing or unreadable
   * cache entry means no prevResult (libcni >= 1.2), a missing netns is passed on for the plugins to
   * tolerate. The cache entry goes only after every plugin succeeded, so a failed DEL can be retried.
   */
  async delNetworkList(list: NetworkConfigList, rtIn: RuntimeConf): Promise<void> {
    const rt = this.effective(rtIn);
    const found = this.validate(list, rt);
    await this.attachmentOp(list, rt, () => this.delLocked(list, rt, found));
  }

  private async delLocked(list: NetworkConfigList, rt: RuntimeConf, found?: Map<string, string>): Promise<void> {
    const cached = versionAtLeast(list.cniVersion, '0.4.0') ? this.getCachedResult(list, rt) : undefined;
    for (const plugin of [...list.plugins].reverse()) {
      await this.run('DEL', list, plugin, rt, cached, found);
    }
    deleteCacheEntry(this.cacheDir, list.name, rt.containerId, rt.ifName);
  }

  /** CHECK in order with the cached result; refused below 0.4.0 and for an attachment never added. */
  async checkNetworkList(list: NetworkConfigList, rtIn: RuntimeConf): Promise<void> {
    const rt = this.effective(rtIn);
    if (!versionAtLeast(list.cniVersion, '0.4.0')) {
      throw new CniError({
        code: ErrorCode.IncompatibleCNIVersion,
        msg: `configuration version "${list.cniVersion}" does not support the CHECK command`,
        verb: 'CHECK',
      });
    }
    if (list.disableCheck) return;
    const found = this.validate(list, rt);
    await this.attachmentOp(list, rt, async () => {
      const entry = readCacheEntry(this.cacheDir, list.name, rt.containerId, rt.ifName);
      if (!entry?.result) {
        throw new CniError({
          code: ErrorCode.UnknownContainer,
          msg: `no cached ADD result for ${list.name}/${rt.containerId}/${rt.ifName}: CHECK needs an attachment that was added`,
          verb: 'CHECK',
        });
      }
      const cached = convertResult(entry.result, list.cniVersion);
      for (const plugin of list.plugins) await this.run('CHECK', list, plugin, rt, cached, found);
    });
  }

  /**
   * GC (spec 1.1.0, libcni GCNetworkList): cache entries of this network not in `validAttachments` get a
   * normal DEL with what the cache recorded (netns, CNI_ARGS, capability args) and the current config; then,
   * at 1.1.0+, every plugin gets CNI_COMMAND=GC with both attachment keys. Keeps going on errors and
   * throws them all together. Runs with no ADD/DEL in flight.
   */
  async gcNetworkList(list: NetworkConfigList, opts: { validAttachments?: GcAttachment[] } = {}): Promise<void> {
    if (list.disableGC) return;
    const valid = opts.validAttachments ?? [];
    // it comes from JSON more often than not (CNI_GC_VALID): a wrong shape is a clear error, not a TypeError
    if (
      !Array.isArray(valid) ||
      valid.some((a) => a === null || typeof a !== 'object' || typeof a.containerID !== 'string' || typeof a.ifname !== 'string')
    ) {
      throw new CniError({
        code: ErrorCode.InvalidEnvironmentVariables,
        msg: 'validAttachments must be an array of {"containerID": string, "ifname": string}',
        verb: 'GC',
      });
    }
    this.findAll(list);
    await this.gcGate.exclusive(async () => {
      // exclusive across processes too: operations already running finish first, new ones wait for the GC
      const deadline = Date.now() + this.timeoutMs;
      const gate = await this.lock(this.gateFile(list), 'exclusive', deadline, `network "${list.name}" (operations on it are running)`);
      try {
        await this.gcLocked(list, valid);
      } finally {
        gate.releaseSync();
        removeLockDirIfEmpty(this.locksDir);
      }
    });
  }

  private async gcLocked(list: NetworkConfigList, valid: GcAttachment[]): Promise<void> {
    const errors: CniError[] = [];
    const keep = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`));
    for (const e of listCachedAttachments(this.cacheDir)) {
      if (e.networkName !== list.name || keep.has(`${e.containerId}\0${e.ifName}`)) continue;
      const rt: RuntimeConf = {
        containerId: e.containerId,
        ifName: e.ifName,
        netns: e.netns ?? '',
        args: e.cniArgs ?? [],
        capabilityArgs: e.capabilityArgs ?? {},
      };
      try {
        validateContainerId(rt.containerId);
        validateIfName(rt.ifName);
        // nobody else can hold it while the gate is ours, but its file is taken and removed the same way
        const att = await this.lock(this.attachmentFile(list, rt), 'exclusive', Date.now() + this.timeoutMs, this.attachmentName(list, rt));
        try {
          await this.delLocked(list, rt);
        } finally {
          att.releaseSync();
        }
      } catch (err) {
        errors.push(toCniError(err));
      }
    }
    if (versionAtLeast(list.cniVersion, '1.1.0')) {
      for (const plugin of list.plugins) {
        const { capabilities: _c, ...rest } = plugin;
        // the spec-v1.1.0 text says cni.dev/attachments, HEAD and libcni say valid-attachments: send both
        const req = {
          ...rest,
          name: list.name,
          cniVersion: list.cniVersion,
          'cni.dev/valid-attachments': valid,
          'cni.dev/attachments': valid,
        };
        delete (req as Record<string, unknown>).prevResult;
        delete (req as Record<string, unknown>).runtimeConfig;
        try {
          await this.runRaw('GC', plugin, buildEnv('GC', undefined, this.pluginDirs), req);
        } catch (err) {
          errors.push(toCniError(err));
        }
      }
    }
    if (errors.length === 1 && errors[0]) throw errors[0];
    if (errors.length > 1) throw new CniErrors(errors, `GC of network "${list.name}" had ${errors.length} failures`);
  }

  /**
   * STATUS (spec 1.1.0): each plugin in order, first error wins (codes 50/51 say ADD cannot be served).
   * Below 1.1.0 this succeeds without running anything, as libcni does.
   */
  async getStatusNetworkList(list: NetworkConfigList): Promise<void> {
    if (!versionAtLeast(list.cniVersion, '1.1.0')) return;
    this.findAll(list);
    for (const plugin of list.plugins) {
      const { capabilities: _c, ...rest } = plugin;
      const req: Record<string, unknown> = { ...rest, name: list.name, cniVersion: list.cniVersion };
      delete req.prevResult;
      delete req.runtimeConfig;
      await this.runRaw('STATUS', plugin, buildEnv('STATUS', undefined, this.pluginDirs), req);
    }
  }

  /** VERSION probe of one plugin type (libcni GetVersionInfo), decoded with libcni's rules. */
  async getVersionInfo(type: string): Promise<VersionInfo> {
    const pluginPath = findInPath(type, this.pluginDirs);
    const stdin = Buffer.from(JSON.stringify({ cniVersion: CURRENT_VERSION }));
    const r = await this.spawn('VERSION', type, {
      pluginPath,
      env: buildEnv('VERSION', undefined, this.pluginDirs),
      stdin,
      timeoutMs: this.timeoutMs,
      ...this.inNetns(),
    });
    if (r.exitCode !== 0 || r.timedOut || r.overflow) {
      const err = decodePluginError(type, 'VERSION', r, this.timeoutMs);
      // a plugin from before the VERSION verb answers like this: it speaks 0.1.0 only
      if (err.msg === 'unknown CNI_COMMAND: VERSION') return { cniVersion: '0.1.0', supportedVersions: ['0.1.0'] };
      throw err;
    }
    return decodeVersionInfo(type, r.stdout);
  }

  /**
   * libcni ValidateNetworkList, before anything runs: every plugin found and executable, every plugin's
   * VERSION answer includes the list's version. All problems are reported together.
   */
  async validateNetworkList(list: NetworkConfigList): Promise<PluginVersionReport[]> {
    const found = this.findAll(list);
    const reports: PluginVersionReport[] = [];
    const problems: CniError[] = [];
    for (const [type, file] of found) {
      try {
        const info = await this.getVersionInfo(type);
        reports.push({ type, path: file, info });
        if (list.cniVersion !== '' && !info.supportedVersions.includes(list.cniVersion)) {
          problems.push(
            new CniError({
              code: ErrorCode.IncompatibleCNIVersion,
              msg: `network "${list.name}" is version ${list.cniVersion} but the plugin supports [${info.supportedVersions.join(' ')}]`,
              plugin: type,
              verb: 'VERSION',
            }),
          );
        }
      } catch (e) {
        problems.push(toCniError(e));
      }
    }
    if (problems.length === 1 && problems[0]) throw problems[0];
    if (problems.length > 1) throw new CniErrors(problems, `network "${list.name}" failed validation`);
    return reports;
  }
}

/** Node's timers fire at once for a delay above 2^31-1 ms, and a timeout <= 0 would mean none: both are refused. */
export const MAX_TIMEOUT_MS = 2_147_483_647;
export function checkTimeoutMs(v: number, field: string): number {
  if (!Number.isInteger(v) || v <= 0 || v > MAX_TIMEOUT_MS) {
    throw new CniError({
      code: ErrorCode.InvalidNetworkConfig,
      msg: `${field} must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS} (Node's timer limit, ~24.8 days), got ${v}`,
    });
  }
  return v;
}

function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  return new CniError({ code: ErrorCode.Internal, msg: (e as Error).message ?? String(e) });
}
