import { validateContainerId, validateIfName, buildEnv, encodeCniArgs } from './args.js';
import { deleteCacheEntry, readCacheEntry, writeCacheEntry } from './cache.js';
import { CniError, ErrorCode } from './errors.js';
import { decodePluginError, defaultPluginExec, findInPath, type PluginExec } from './invoke.js';
import { type AnyResult, convertResult, parseResult } from './result.js';
import type { NetworkConfigList, PluginConf, RuntimeConf, Verb } from './types.js';
import { versionAtLeast } from './version.js';

export interface RuntimeOptions {
  /** directories searched for plugin binaries, in order; also CNI_PATH */
  pluginDirs: string[];
  /** libcni's cacheDir (results live in <cacheDir>/results); default /var/lib/cni */
  cacheDir?: string;
  /** per plugin run; the whole process group is killed after it */
  timeoutMs?: number;
  exec?: PluginExec;
}

/**
 * The CNI runtime: what libcni's CNIConfig is for Go. One instance may serve many attachments at once.
 */
export class CniRuntime {
  readonly pluginDirs: string[];
  readonly cacheDir: string;
  readonly timeoutMs: number;
  private readonly exec: PluginExec;

  constructor(opts: RuntimeOptions) {
    this.pluginDirs = opts.pluginDirs;
    this.cacheDir = opts.cacheDir ?? '/var/lib/cni';
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.exec = opts.exec ?? defaultPluginExec;
  }

  /** Builds the stdin object for one plugin (SPEC "Deriving request configuration"). */
  buildRequest(list: NetworkConfigList, plugin: PluginConf, rt: RuntimeConf | undefined, prevResult?: AnyResult): Record<string, unknown> {
    const { capabilities, ...rest } = plugin;
    const req: Record<string, unknown> = { ...rest, name: list.name, cniVersion: list.cniVersion };
    delete req.prevResult;
    if (prevResult) req.prevResult = convertResult(prevResult, list.cniVersion);
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(capabilities ?? {})) {
      if (on === true && rt?.capabilityArgs && cap in rt.capabilityArgs) runtimeConfig[cap] = rt.capabilityArgs[cap];
    }
    if (Object.keys(runtimeConfig).length > 0) req.runtimeConfig = runtimeConfig;
    else delete req.runtimeConfig;
    return req;
  }

  private async run(verb: Verb, list: NetworkConfigList, plugin: PluginConf, rt: RuntimeConf | undefined, prev?: AnyResult) {
    const pluginPath = findInPath(plugin.type, this.pluginDirs);
    const stdin = Buffer.from(JSON.stringify(this.buildRequest(list, plugin, rt, prev)));
    const r = await this.exec({ pluginPath, env: buildEnv(verb, rt, this.pluginDirs), stdin, timeoutMs: this.timeoutMs });
    if (r.exitCode !== 0 || r.timedOut) throw decodePluginError(plugin.type, verb, r, this.timeoutMs);
    return r;
  }

  private validate(list: NetworkConfigList, rt: RuntimeConf): void {
    validateContainerId(rt.containerId);
    validateIfName(rt.ifName);
    encodeCniArgs(rt.args);
    // every binary is looked up before the first runs: a missing one later in the chain then costs nothing to undo
    for (const p of list.plugins) findInPath(p.type, this.pluginDirs);
  }

  /** ADD through the list in order; the final result is cached and returned in the list's version. */
  async addNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<AnyResult> {
    this.validate(list, rt);
    let prev: AnyResult | undefined;
    for (const plugin of list.plugins) {
      const r = await this.run('ADD', list, plugin, rt, prev);
      prev = parseResult(r.stdout, list.cniVersion, plugin.type);
    }
    const result = convertResult(prev ?? { cniVersion: list.cniVersion }, list.cniVersion);
    writeCacheEntry(this.cacheDir, {
      kind: 'cniCacheV1',
      containerId: rt.containerId,
      config: Buffer.from(list.bytes).toString('base64'),
      ifName: rt.ifName,
      networkName: list.name,
      netns: rt.netns,
      cniArgs: rt.args ?? [],
      capabilityArgs: rt.capabilityArgs ?? {},
      result,
    });
    return result;
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

  /** DEL in reverse order with the cached result as prevResult (0.4.0+); idempotent; cache removed on success. */
  async delNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    validateContainerId(rt.containerId);
    validateIfName(rt.ifName);
    encodeCniArgs(rt.args);
    const cached = versionAtLeast(list.cniVersion, '0.4.0') ? this.getCachedResult(list, rt) : undefined;
    for (const plugin of [...list.plugins].reverse()) {
      await this.run('DEL', list, plugin, rt, cached);
    }
    deleteCacheEntry(this.cacheDir, list.name, rt.containerId, rt.ifName);
  }

  /** CHECK in order with the cached result; refused below 0.4.0 and for an attachment never added. */
  async checkNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    if (!versionAtLeast(list.cniVersion, '0.4.0')) {
      throw new CniError({
        code: ErrorCode.IncompatibleCNIVersion,
        msg: `configuration version "${list.cniVersion}" does not support the CHECK command`,
      });
    }
    if (list.disableCheck) return;
    this.validate(list, rt);
    const cached = this.getCachedResult(list, rt);
    if (!cached) {
      throw new CniError({
        code: ErrorCode.UnknownContainer,
        msg: `no cached ADD result for ${list.name}/${rt.containerId}/${rt.ifName}: CHECK needs an attachment that was added`,
      });
    }
    for (const plugin of list.plugins) await this.run('CHECK', list, plugin, rt, cached);
  }
}
