import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { AnyResult } from './result.js';

/** libcni's on-disk cache entry ("cniCacheV1"), so cnitool/containerd and we can tear down each other's work. */
export interface CacheEntry {
  kind: 'cniCacheV1';
  containerId: string;
  /** base64 of the whole conflist file's bytes (Go []byte JSON encoding) */
  config: string;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs?: [string, string][];
  capabilityArgs?: Record<string, unknown>;
  result?: AnyResult;
}

/** libcni's results folder under the cache root (the one place its name is written). */
export const cacheResultsDir = (cacheDir: string) => path.join(cacheDir, 'results');

export function cacheFile(cacheDir: string, network: string, containerId: string, ifName: string): string {
  return path.join(cacheResultsDir(cacheDir), `${network}-${containerId}-${ifName}`);
}

/** Written once after a whole ADD chain succeeded: temp file, fsync, rename (libcni's plain write can tear). */
export function writeCacheEntry(cacheDir: string, entry: CacheEntry, opts: { fsync?: boolean } = {}): string {
  const file = cacheFile(cacheDir, entry.networkName, entry.containerId, entry.ifName);
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(dir, { recursive: true, mode: 0o700 }); // only the first entry pays for the directory
    fd = openSync(tmp, 'wx', 0o600);
  }
  try {
    writeSync(fd, Buffer.from(JSON.stringify(entry)));
    // without fsync a crash can leave an empty file behind the rename (containernetworking/cni#1055)
    if (opts.fsync !== false) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return file;
}

/** Reads an entry; a legacy entry (just a result) is returned with only `result` set. Undefined if absent or unreadable. */
export function readCacheEntry(cacheDir: string, network: string, containerId: string, ifName: string): Partial<CacheEntry> | undefined {
  let text: string;
  try {
    text = readFileSync(cacheFile(cacheDir, network, containerId, ifName), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (v.kind === 'cniCacheV1') return v as unknown as CacheEntry;
    if (typeof v.cniVersion === 'string') return { result: v as unknown as AnyResult };
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes an entry, synchronously: a DEL that returned leaves no file behind, even when the process is killed
 * right after it (a background unlink would leave a renamed copy to a kill, which the leak audit then finds).
 */
export function deleteCacheEntry(cacheDir: string, network: string, containerId: string, ifName: string): void {
  rmSync(cacheFile(cacheDir, network, containerId, ifName), { force: true });
}

/** One file of the results folder: a whole entry, or a corrupt or half-written one (which an audit still names). */
export interface CacheFile {
  file: string;
  /** the entry's file name; for a half-written temp file, the name of the entry it was being written as */
  name: string;
  temp: boolean;
  entry: CacheEntry | undefined;
}

/** Every file of the results folder, with its entry where it holds a cniCacheV1 one. */
export function listCacheFiles(cacheDir: string): CacheFile[] {
  const dir = cacheResultsDir(cacheDir);
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  return files.map((f) => {
    const temp = /^\.(.+)\.[0-9a-f]+\.tmp$/.exec(f);
    let entry: CacheEntry | undefined;
    try {
      const v = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CacheEntry;
      if (v?.kind === 'cniCacheV1') entry = v;
    } catch {
      /* not an entry (yet) */
    }
    return { file: path.join(dir, f), name: temp?.[1] ?? f, temp: Boolean(temp), entry };
  });
}

/** Lists cniCacheV1 entries, optionally for one container; reads the fields, never parses file names. */
export function listCachedAttachments(cacheDir: string, containerId?: string): CacheEntry[] {
  // unreadable entries are skipped, as libcni does for listing
  return listCacheFiles(cacheDir)
    .filter((f) => !f.temp && !path.basename(f.file).startsWith('.'))
    .flatMap((f) => (f.entry && (containerId === undefined || f.entry.containerId === containerId) ? [f.entry] : []));
}
