import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';
import type { NetworkConfigList, PluginConf } from './types.js';
import { compareVersions, CURRENT_VERSION, isSupportedVersion, parseVersion, SUPPORTED_VERSIONS } from './version.js';

export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function parseJsonObject(bytes: Uint8Array | string, source: string): Record<string, unknown> {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(source, undefined, `not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(source, undefined, 'must be a JSON object');
  return v as Record<string, unknown>;
}

/** libcni accepts a JSON bool or the strings "true"/"false" in any case. */
function parseFlag(raw: Record<string, unknown>, key: string, source: string): boolean {
  const v = raw[key];
  if (v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw new ConfigError(source, key, `must be true or false (a JSON bool or the string "true"/"false"), got ${JSON.stringify(v)}`);
}

/** A version newer than ours is legitimately skipped (cniVersions); one that never existed below it is a typo. */
const knownOrNewer = (v: string) => isSupportedVersion(v) || compareVersions(v, CURRENT_VERSION) > 0;

/**
 * Picks the version to run a list at (spec 1.1.0): cniVersion plus every cniVersions entry, minus those
 * newer than this runtime, highest wins.
 */
export function selectVersion(raw: Record<string, unknown>, source: string): { cniVersion: string; cniVersions?: string[] } {
  const candidates: string[] = [];
  const single = raw.cniVersion;
  if (single !== undefined) {
    if (typeof single !== 'string') throw new ConfigError(source, 'cniVersion', `must be a string, got ${JSON.stringify(single)}`);
    if (single !== '' && !parseVersion(single)) throw new ConfigError(source, 'cniVersion', `"${single}" is not a version like 1.0.0`);
    if (single !== '' && !knownOrNewer(single))
      throw new ConfigError(source, 'cniVersion', `unknown CNI spec version "${single}" (known: ${SUPPORTED_VERSIONS.join(', ')})`);
    if (single !== '') candidates.push(single);
  }
  let list: string[] | undefined;
  if (raw.cniVersions !== undefined) {
    if (!Array.isArray(raw.cniVersions) || raw.cniVersions.some((x) => typeof x !== 'string')) {
      throw new ConfigError(source, 'cniVersions', 'must be an array of version strings');
    }
    list = raw.cniVersions as string[];
    for (const v of list) {
      if (!parseVersion(v)) throw new ConfigError(source, 'cniVersions', `"${v}" is not a version like 1.0.0`);
      if (!knownOrNewer(v))
        throw new ConfigError(source, 'cniVersions', `unknown CNI spec version "${v}" (known: ${SUPPORTED_VERSIONS.join(', ')})`);
      candidates.push(v);
    }
  }
  const usable = candidates.filter((v) => compareVersions(v, CURRENT_VERSION) <= 0);
  if (candidates.length > 0 && usable.length === 0) {
    throw new ConfigError(
      source,
      raw.cniVersions ? 'cniVersions' : 'cniVersion',
      `no version this runtime supports (newest it speaks: ${CURRENT_VERSION})`,
    );
  }
  usable.sort(compareVersions);
  const out: { cniVersion: string; cniVersions?: string[] } = { cniVersion: usable.at(-1) ?? '' };
  if (list) out.cniVersions = list;
  return out;
}

function checkPlugin(p: unknown, source: string, where: string): PluginConf {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new ConfigError(source, where, 'must be a JSON object');
  const type = (p as Record<string, unknown>).type;
  if (typeof type !== 'string' || type === '') throw new ConfigError(source, `${where}.type`, "missing 'type'");
  if (type.includes('/') || type.includes('\\') || type.includes('..'))
    throw new ConfigError(source, `${where}.type`, `"${type}" must be a plugin name, not a path`);
  return p as PluginConf;
}

/** Parses a configuration list (.conflist). */
export function confListFromBytes(bytes: Uint8Array | string, source = 'conflist'): NetworkConfigList {
  const raw = parseJsonObject(bytes, source);
  const name = raw.name;
  if (typeof name !== 'string' || name === '') throw new ConfigError(source, 'name', 'missing network name');
  if (!NAME_RE.test(name)) throw new ConfigError(source, 'name', `"${name}" has invalid characters: use letters, digits, "_", "." or "-"`);
  const plugins = raw.plugins;
  if (!Array.isArray(plugins)) throw new ConfigError(source, 'plugins', 'missing: a configuration list needs a "plugins" array');
  if (plugins.length === 0) throw new ConfigError(source, 'plugins', 'is empty: give at least one plugin');
  return {
    name,
    ...selectVersion(raw, source),
    disableCheck: parseFlag(raw, 'disableCheck', source),
    disableGC: parseFlag(raw, 'disableGC', source),
    plugins: plugins.map((p, i) => checkPlugin(p, source, `plugins[${i}]`)),
    bytes: typeof bytes === 'string' ? Buffer.from(bytes) : bytes,
    source,
  };
}

/** Parses a single-plugin config (.conf/.json) and wraps it into a one-element list, as libcni does. */
export function confListFromConfBytes(bytes: Uint8Array | string, source = 'conf'): NetworkConfigList {
  const raw = parseJsonObject(bytes, source);
  const name = raw.name;
  if (typeof name !== 'string' || name === '') throw new ConfigError(source, 'name', 'missing network name');
  if (!NAME_RE.test(name)) throw new ConfigError(source, 'name', `"${name}" has invalid characters`);
  const plugin = checkPlugin(raw, source, 'type' in raw ? '' : '(plugin)');
  const version = selectVersion(raw, source);
  const list = { name, cniVersion: version.cniVersion, plugins: [plugin] };
  const wrapped = Buffer.from(JSON.stringify(list));
  return { ...list, disableCheck: false, disableGC: false, bytes: wrapped, source };
}

/** Parses either form by shape: an object with "plugins" is a list. */
export function confFromBytes(bytes: Uint8Array | string, source = 'config'): NetworkConfigList {
  const raw = parseJsonObject(bytes, source);
  return 'plugins' in raw ? confListFromBytes(bytes, source) : confListFromConfBytes(bytes, source);
}

/**
 * One network file, read as libcni reads it (ConfListFromFile, ConfFromFile): `.conflist` is a list, `.conf` and
 * `.json` are single-plugin files wrapped into a one-plugin list; any other name is read by its shape. An
 * unreadable file is a ConfigError naming it and the reason (ENOENT, EISDIR, EACCES …).
 */
export function confFromFile(file: string): NetworkConfigList {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code ?? e})`;
    throw new ConfigError(file, undefined, why);
  }
  const ext = path.extname(file);
  if (ext === '.conflist') return confListFromBytes(bytes, file);
  if (ext === '.conf' || ext === '.json') return confListFromConfBytes(bytes, file);
  return confFromBytes(bytes, file);
}

function filesWith(dir: string, exts: string[]): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return entries
    .filter((f) => exts.includes(path.extname(f)))
    .map((f) => path.join(dir, f))
    .filter((f) => {
      try {
        return statSync(f).isFile();
      } catch {
        return false; // a dangling link is no config file, and no reason to fail the others
      }
    })
    .sort();
}

export interface LoadOptions {
  /** told about each sibling skipped because it is not JSON; default: a line on stderr */
  warn?: (message: string) => void;
}

/** The raw name of a file that parses as a JSON object, else undefined; siblings are not validated further. */
function peekName(bytes: Buffer): { json: boolean; name?: unknown } {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { json: false };
  }
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? { json: true, name: (v as Record<string, unknown>).name }
    : { json: true };
}

/**
 * libcni's LoadNetworkConf: *.conflist in lexical order, first with a matching name; else *.conf / *.json
 * single-plugin files, wrapped into a list. Only the file chosen is validated (a bad sibling does not stop
 * another network, as in libcni, which checks names and plugin types only when a network runs); asked for
 * by name, a bad file is refused with its own error. A sibling that is not JSON at all is skipped with a
 * warning naming it, where libcni fails every load that reaches it: one half-written file must not take
 * every network on the host down with it.
 */
export function loadConfList(dir: string, name: string, opts: LoadOptions = {}): NetworkConfigList {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`cni: warning: ${m}\n`));
  const skipped: string[] = [];
  const find = (files: string[], parse: (b: Buffer, f: string) => NetworkConfigList) => {
    for (const f of files) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f);
      } catch (e) {
        skipped.push(f);
        warn(`skipped ${f}: cannot be read (${(e as NodeJS.ErrnoException).code}); networks in other files are not affected`);
        continue;
      }
      const peek = peekName(bytes);
      if (!peek.json) {
        skipped.push(f);
        warn(`skipped ${f}: not valid JSON (fix or remove it; networks in other files are not affected)`);
        continue;
      }
      if (peek.name === name) return parse(bytes, f);
    }
    return undefined;
  };
  const lists = filesWith(dir, ['.conflist']);
  const singles = filesWith(dir, ['.conf', '.json']);
  const found = find(lists, (b, f) => confListFromBytes(b, f)) ?? find(singles, (b, f) => confListFromConfBytes(b, f));
  if (found) return found;
  const because = skipped.length > 0 ? ` (skipped, unreadable or not JSON: ${skipped.join(', ')})` : '';
  if (lists.length + singles.length === 0) throw new ConfigError(dir, undefined, `no net configurations found in ${dir}`);
  throw new ConfigError(dir, 'name', `no net configuration with name "${name}" in ${dir}${because}`);
}
