import { rmSync } from 'node:fs';
import { type Ctx, formatSource, type ImageSource, UserError } from '@cni-demo/core';
import { buildBuiltinBusybox, builtinKey } from './builtin.js';
import { ENTRY_TAG, type EntryMeta, ImageCache, readEntryConfig, verifyEntry } from './cache.js';
import { copyToLayout, resolveDigest } from './skopeo.js';

export interface CacheHit {
  digest: string;
  entry: string;
  meta: EntryMeta;
  /** false when the entry was already in the cache: no network and no copy */
  fetched: boolean;
  /** releases the entry's lock; held until the rootfs is unpacked so prune cannot take the entry away */
  release: () => void;
}

/** The pin the user asked for: --image-digest and an @sha256: in the reference must agree. */
export function pinOf(src: ImageSource, imageDigest: string): string | undefined {
  const inRef = src.kind === 'registry' ? src.digest : undefined;
  if (inRef && imageDigest && inRef !== imageDigest) {
    throw new UserError(`the reference pins ${inRef} but imageDigest pins ${imageDigest}`, {
      field: 'imageDigest',
      hint: 'give one digest: drop --image-digest or the @sha256: part of the reference',
    });
  }
  return inRef ?? (imageDigest || undefined);
}

function mismatch(src: ImageSource, pin: string, got: string): UserError {
  return new UserError(`image ${formatSource(src)} has digest ${got}, not the pinned ${pin}; refusing it`, {
    field: 'imageDigest',
    hint: 'the tag moved or the source is not the image you pinned: check the source, or update the pin to the new digest on purpose',
  });
}

/** Checks an existing entry; a damaged one is removed so it is fetched again. True when it can be used. */
async function usable(ctx: Ctx, cache: ImageCache, entry: string): Promise<boolean> {
  const meta = cache.readMeta(entry);
  if (!meta) {
    cache.discard(entry);
    return false;
  }
  const problem = await verifyEntry(entry);
  if (!problem) return true;
  ctx.log.warn(`image cache entry ${entry} is damaged (${problem}); fetching it again`);
  cache.discard(entry);
  return false;
}

/**
 * Makes sure the cache holds the image `src` names, verified, and returns its entry with the entry's lock
 * held. A pinned registry image already in the cache costs no network at all; a tag costs one manifest
 * lookup (tags move), and no blob transfer when its digest is cached.
 */
export async function ensureCached(ctx: Ctx, src: ImageSource): Promise<CacheHit> {
  const cache = new ImageCache(ctx.config.imageCacheDir);
  const waitMs = ctx.config.pullTimeoutMs;
  const pin = pinOf(src, ctx.config.imageDigest);
  const reference = formatSource(src);

  if (src.kind === 'builtin') {
    const name = builtinKey();
    const releaseKey = await cache.lock(name, waitMs);
    try {
      const known = cache.readKey(name);
      if (known && (await usableEntry(ctx, cache, known))) return await lockedHit(cache, known, false, pin, src, waitMs);
      const tmp = cache.tmpDir();
      try {
        await buildBuiltinBusybox(ctx, tmp, ENTRY_TAG);
        const info = readEntryConfig(tmp);
        const problem = await verifyEntry(tmp);
        if (problem) throw new Error(`the built-in image just built is inconsistent: ${problem}`);
        cache.commit(tmp, { sourceDigest: info.manifestDigest, manifestDigest: info.manifestDigest, reference, platform: info.platform });
        cache.writeKey(name, info.manifestDigest);
        return await lockedHit(cache, info.manifestDigest, true, pin, src, waitMs);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    } finally {
      releaseKey();
    }
  }

  // a digest in the reference is the image, as in Docker (a tag beside it is ignored): no lookup. Otherwise
  // the source is asked; offline sources too, since a file can change under the same name, and a tag with
  // --image-digest must still point at the pin.
  let digest = src.kind === 'registry' ? src.digest : undefined;
  if (!digest) {
    const resolved = await resolveDigest(ctx, src);
    if (pin && pin !== resolved.digest && !resolved.children.includes(pin)) throw mismatch(src, pin, resolved.digest);
    digest = pin ?? resolved.digest;
  }
  const release = await cache.lock(digest, waitMs);
  try {
    const entry = cache.entryDir(digest);
    if (await usableEntry(ctx, cache, digest)) {
      return { digest, entry, meta: cache.readMeta(entry) as EntryMeta, fetched: false, release };
    }
    const tmp = cache.tmpDir();
    try {
      await copyToLayout(ctx, src, digest, tmp);
      const problem = await verifyEntry(tmp);
      if (problem)
        throw new UserError(`image ${reference}: the copy does not match its digests (${problem}); nothing was cached`, {
          field: 'image',
          hint: 'fetch again; if it repeats, the source is corrupt',
        });
      const info = readEntryConfig(tmp);
      const meta: EntryMeta = { sourceDigest: digest, manifestDigest: info.manifestDigest, reference, platform: info.platform };
      cache.commit(tmp, meta);
      return { digest, entry, meta, fetched: true, release };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    release();
    throw e;
  }
}

async function usableEntry(ctx: Ctx, cache: ImageCache, digest: string): Promise<boolean> {
  const entry = cache.entryDir(digest);
  try {
    return await usable(ctx, cache, entry);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

async function lockedHit(
  cache: ImageCache,
  digest: string,
  fetched: boolean,
  pin: string | undefined,
  src: ImageSource,
  waitMs: number,
): Promise<CacheHit> {
  if (pin && pin !== digest) throw mismatch(src, pin, digest);
  const release = await cache.lock(digest, waitMs);
  const entry = cache.entryDir(digest);
  return { digest, entry, meta: cache.readMeta(entry) as EntryMeta, fetched, release };
}
