import { createHash } from 'node:crypto';
import path from 'node:path';
import { CniRuntime, type GcAttachment, MAX_TIMEOUT_MS } from './api.js';
import { CniError, CniErrors, ErrorCode } from './errors.js';
import { loadConfList } from './conf.js';
import type { RuntimeConf } from './types.js';
import { SUPPORTED_VERSIONS } from './version.js';

export const USAGE = `usage: cni-tool add|check|del <network> <netns-path>
       cni-tool gc|status <network> [<netns-path>]
       cni-tool version <plugin>
       cni-tool validate <network>
       cni-tool --help | --version
environment (as cnitool): NETCONFPATH (default /etc/cni/net.d), CNI_PATH (plugin dirs, ':'-separated),
  CNI_IFNAME (default eth0), CNI_ARGS (K=V;K2=V2), CAP_ARGS (JSON object of capability args)
extensions: CNI_CACHE_DIR (default /var/lib/cni), CNI_TIMEOUT_MS (per plugin run and per wait for a lock,
  1 to ${MAX_TIMEOUT_MS}, default 60000), CNI_GC_VALID (JSON [{"containerID","ifname"}] kept by gc; default none, like cnitool)
exit codes: 0 done, 1 the operation failed (the CNI error as JSON on stderr), 2 wrong usage`;

/** What each command needs after its name, for the usage error's first line. */
const OPERANDS: Record<string, string> = {
  add: '<network> <netns-path>',
  check: '<network> <netns-path>',
  del: '<network> <netns-path>',
  gc: '<network>',
  status: '<network>',
  version: '<plugin>',
  validate: '<network>',
};

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  /** what --version prints after "cni-tool " (the package's version, read by the entry script) */
  version?: string;
}

/** cnitool's container id: "cnitool-" + hex of the first 10 bytes of SHA-512 of the netns path. */
export function cnitoolContainerId(netnsPath: string): string {
  return `cnitool-${createHash('sha512').update(netnsPath).digest().subarray(0, 10).toString('hex')}`;
}

/** CNI_ARGS as a user types it ("K=V;K2=V2") into pairs; a pair without "=" is refused, not guessed. */
export function parseCniArgsEnv(s: string | undefined): [string, string][] {
  if (!s) return [];
  return s
    .split(';')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      if (i <= 0) {
        throw new CniError({ code: ErrorCode.InvalidEnvironmentVariables, msg: `CNI_ARGS: "${p}" is not KEY=VALUE` });
      }
      return [p.slice(0, i), p.slice(i + 1)] as [string, string];
    });
}

/** A bad environment value: refused before anything runs, exit 2 like a usage error. */
class EnvError extends Error {}

function parseJsonEnv(name: string, s: string | undefined): unknown {
  if (!s) return undefined;
  try {
    return JSON.parse(s);
  } catch (e) {
    throw new EnvError(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}

/** CNI_TIMEOUT_MS: digits only, 1 … 2^31-1 (a larger value would make Node's timer fire at once). */
export function parseTimeoutEnv(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const n = /^\d+$/.test(s.trim()) ? Number(s.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_TIMEOUT_MS) {
    throw new EnvError(
      `CNI_TIMEOUT_MS must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS} (Node's timer limit, ~24.8 days), got ${JSON.stringify(s)}; unset it for the default 60000`,
    );
  }
  return n;
}

/** CNI_GC_VALID: a JSON array of {"containerID": string, "ifname": string}. */
export function parseGcValidEnv(s: string | undefined): GcAttachment[] | undefined {
  const v = parseJsonEnv('CNI_GC_VALID', s);
  if (v === undefined) return undefined;
  const shape = 'a JSON array of attachments to keep, like [{"containerID":"c1","ifname":"eth0"}] ([] keeps none)';
  if (!Array.isArray(v)) throw new EnvError(`CNI_GC_VALID must be ${shape}, got ${JSON.stringify(v).slice(0, 80)}`);
  v.forEach((a, i) => {
    const o = a as Record<string, unknown> | null;
    if (o === null || typeof o !== 'object' || Array.isArray(o) || typeof o.containerID !== 'string' || typeof o.ifname !== 'string') {
      throw new EnvError(
        `CNI_GC_VALID[${i}] must be {"containerID": string, "ifname": string}, got ${JSON.stringify(a).slice(0, 80)}; CNI_GC_VALID is ${shape}`,
      );
    }
  });
  return v as GcAttachment[];
}

/** The CLI without process globals: returns the exit code. */
export async function runCniTool(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const [cmd, target, netnsArg] = argv;
  const confDir = env.NETCONFPATH || '/etc/cni/net.d';
  const pluginDirs = (env.CNI_PATH ?? '').split(':').filter(Boolean);
  const needs = (n: number) => {
    if (argv.length < n) {
      io.err(`cni-tool: ${cmd} needs ${OPERANDS[cmd ?? ''] ?? 'more arguments'}\n${USAGE}\n`);
      return false;
    }
    return true;
  };
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out(`${USAGE}\n`);
    return 0;
  }
  if (cmd === '--version') {
    io.out(`cni-tool ${io.version ?? 'unknown'} (CNI spec ${SUPPORTED_VERSIONS.join(', ')})\n`);
    return 0;
  }
  // a sibling file skipped in NETCONFPATH is worth a line, not a failure
  const load = (name: string) => loadConfList(confDir, name, { warn: (m) => io.err(`cni-tool: warning: ${m}\n`) });
  try {
    const timeoutMs = parseTimeoutEnv(env.CNI_TIMEOUT_MS);
    const rtm = new CniRuntime({ pluginDirs, cacheDir: env.CNI_CACHE_DIR || '/var/lib/cni', ...(timeoutMs ? { timeoutMs } : {}) });
    switch (cmd) {
      case 'add':
      case 'check':
      case 'del': {
        if (!needs(3) || !target || !netnsArg) return 2;
        const capArgs = parseJsonEnv('CAP_ARGS', env.CAP_ARGS);
        if (capArgs !== undefined && (capArgs === null || typeof capArgs !== 'object' || Array.isArray(capArgs))) {
          throw new EnvError('CAP_ARGS must be a JSON object of capability args, like {"portMappings":[…]}');
        }
        const list = load(target);
        const netns = path.resolve(netnsArg);
        const rt: RuntimeConf = {
          containerId: cnitoolContainerId(netns),
          netns,
          ifName: env.CNI_IFNAME || 'eth0',
          args: parseCniArgsEnv(env.CNI_ARGS),
          ...(capArgs ? { capabilityArgs: capArgs as Record<string, unknown> } : {}),
        };
        if (cmd === 'add') io.out(`${JSON.stringify(await rtm.addNetworkList(list, rt), null, 2)}\n`);
        else if (cmd === 'check') await rtm.checkNetworkList(list, rt);
        else await rtm.delNetworkList(list, rt);
        return 0;
      }
      case 'gc': {
        if (!needs(2) || !target) return 2;
        const valid = parseGcValidEnv(env.CNI_GC_VALID);
        const list = load(target);
        await rtm.gcNetworkList(list, valid ? { validAttachments: valid } : {});
        return 0;
      }
      case 'status': {
        if (!needs(2) || !target) return 2;
        await rtm.getStatusNetworkList(load(target));
        return 0;
      }
      case 'version': {
        if (!needs(2) || !target) return 2;
        io.out(`${JSON.stringify(await rtm.getVersionInfo(target), null, 2)}\n`);
        return 0;
      }
      case 'validate': {
        if (!needs(2) || !target) return 2;
        const list = load(target);
        const reports = await rtm.validateNetworkList(list);
        io.out(`${JSON.stringify({ name: list.name, cniVersion: list.cniVersion, plugins: reports }, null, 2)}\n`);
        return 0;
      }
      default:
        io.err(`cni-tool: unknown command "${cmd}"\n${USAGE}\n`);
        return 2;
    }
  } catch (e) {
    if (e instanceof EnvError) {
      io.err(`cni-tool: ${e.message}\n`);
      return 2;
    }
    if (e instanceof CniError) {
      io.err(`cni-tool: ${e.message}\n`);
      if (e.stderr.trim()) io.err(`plugin stderr:\n${e.stderr.trimEnd()}\n`);
      const errs = e instanceof CniErrors ? e.errors : [e];
      for (const x of errs) {
        io.err(
          `${JSON.stringify({ code: x.code, msg: x.msg, ...(x.details ? { details: x.details } : {}), ...(x.plugin ? { plugin: x.plugin } : {}), ...(x.verb ? { verb: x.verb } : {}) })}\n`,
        );
      }
      return 1;
    }
    throw e;
  }
}
