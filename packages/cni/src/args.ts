import { CniError, ErrorCode } from './errors.js';
import type { RuntimeConf, Verb } from './types.js';

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** libcni pkg/utils ValidateContainerID: empty -> code 3, bad characters -> code 4. */
export function validateContainerId(id: string): void {
  if (id === '') throw new CniError({ code: ErrorCode.UnknownContainer, msg: 'missing containerID' });
  if (!ID_RE.test(id)) {
    throw new CniError({ code: ErrorCode.InvalidEnvironmentVariables, msg: `invalid characters in containerID "${id}"` });
  }
}

/** libcni ValidateInterfaceName: non-empty, at most 15 bytes, not . or .., no / : or white space. */
export function validateIfName(name: string): void {
  const bad = (why: string) => new CniError({ code: ErrorCode.InvalidEnvironmentVariables, msg: why });
  if (name === '') throw bad('interface name is empty');
  if (Buffer.byteLength(name) > 15) throw bad(`interface name "${name}" is too long (at most 15 bytes)`);
  if (name === '.' || name === '..') throw bad(`interface name "${name}" is either . or ..`);
  if (/[/:\s]/u.test(name)) throw bad(`interface name "${name}" contains / or : or whitespace characters`);
}

/** CNI_ARGS: K=V joined by ';' with no escaping, so ';' and '=' inside a key or value cannot be sent. */
export function encodeCniArgs(args: readonly [string, string][] = []): string {
  for (const [k, v] of args) {
    if (k === '' || /[;=]/.test(k) || /[;=]/.test(v)) {
      throw new CniError({
        code: ErrorCode.InvalidEnvironmentVariables,
        msg: `CNI_ARGS pair ${JSON.stringify(`${k}=${v}`)} cannot be encoded: keys and values must not contain ";" or "="`,
      });
    }
  }
  return args.map(([k, v]) => `${k}=${v}`).join(';');
}

/** The six CNI_* variables for one invocation, exactly as libcni sets them (empty where not applicable). */
export function buildEnv(verb: Verb, rt: RuntimeConf | undefined, pluginDirs: readonly string[]): Record<string, string> {
  if (verb === 'VERSION') {
    return { CNI_COMMAND: 'VERSION', CNI_CONTAINERID: '', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_ARGS: '', CNI_PATH: 'dummy' };
  }
  const perAttachment = verb === 'ADD' || verb === 'DEL' || verb === 'CHECK';
  return {
    CNI_COMMAND: verb,
    CNI_CONTAINERID: perAttachment ? (rt?.containerId ?? '') : '',
    CNI_NETNS: perAttachment ? (rt?.netns ?? '') : '',
    CNI_IFNAME: perAttachment ? (rt?.ifName ?? '') : '',
    CNI_ARGS: perAttachment ? encodeCniArgs(rt?.args) : '',
    CNI_PATH: pluginDirs.join(':'),
  };
}

/**
 * Prepends IgnoreUnknown=1 unless the caller set it: plugins built on skel reject CNI_ARGS keys they do not
 * know (containernetworking/cni#126, #560) unless told to ignore them.
 */
export function withIgnoreUnknown(args: readonly [string, string][] = []): [string, string][] {
  if (args.length === 0 || args.some(([k]) => k === 'IgnoreUnknown')) return [...args];
  return [['IgnoreUnknown', '1'], ...args];
}
