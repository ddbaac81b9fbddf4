import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, type ImageFetchState, pidAlive, requireRoot } from '@cni-demo/core';
import { ImageCache, listEntries } from './cache.js';

export interface PruneReport {
  kept: string[];
  removed: string[];
  /** entries in use by a fetch right now (their lock is held): left alone */
  busy: string[];
}

/** Cache entries and layouts named by any instance's image-fetch state under stateDir. */
export function referencedEntries(stateDir: string): Set<string> {
  const out = new Set<string>();
  if (!existsSync(stateDir)) return out;
  for (const id of readdirSync(stateDir)) {
    try {
      const s = JSON.parse(readFileSync(path.join(stateDir, id, 'image-fetch.json'), 'utf8')) as ImageFetchState;
      for (const p of [s.cacheEntry, s.layout]) if (p) out.add(path.resolve(p));
    } catch {
      /* no state for this instance */
    }
  }
  return out;
}

/**
 * Removes every cache entry no state refers to, abandoned temporary folders, and keys that point at removed
 * entries. An entry whose lock is held (a fetch is using it) is skipped rather than waited for.
 */
export async function prune(ctx: Ctx): Promise<PruneReport> {
  requireRoot('image-fetch prune');
  const cache = new ImageCache(ctx.config.imageCacheDir);
  const refs = referencedEntries(ctx.config.stateDir);
  const report: PruneReport = { kept: [], removed: [], busy: [] };
  for (const entry of listEntries(cache.root)) {
    if (refs.has(path.resolve(entry))) {
      report.kept.push(entry);
      continue;
    }
    const digest = path.basename(entry).replace('-', ':');
    let release: (() => void) | undefined;
    try {
      release = await cache.lock(digest, 0);
    } catch {
      report.busy.push(entry);
      continue;
    }
    try {
      cache.discard(entry);
      report.removed.push(entry);
    } finally {
      release();
    }
  }
  const tmpRoot = path.join(cache.root, 'tmp');
  if (existsSync(tmpRoot)) {
    for (const name of readdirSync(tmpRoot)) {
      const pid = Number(name.split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) continue;
      rmSync(path.join(tmpRoot, name), { recursive: true, force: true });
    }
  }
  const keysDir = path.join(cache.root, 'keys');
  if (existsSync(keysDir)) {
    for (const name of readdirSync(keysDir)) {
      const d = cache.readKey(name);
      if (!d || !existsSync(cache.entryDir(d))) rmSync(path.join(keysDir, name), { force: true });
    }
  }
  // the single shared layout of earlier versions, unless a state still names it
  const legacy = path.join(cache.root, 'oci');
  if (existsSync(legacy) && !refs.has(path.resolve(legacy))) {
    rmSync(legacy, { recursive: true, force: true });
    report.removed.push(legacy);
  }
  ctx.log.info(`image cache prune: ${report.removed.length} removed, ${report.kept.length} kept, ${report.busy.length} in use`);
  return report;
}
