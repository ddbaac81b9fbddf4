import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, faultPoint, type ImageFetchState, parseReference, requireRoot, rootlessUser } from '@cni-demo/core';
import { ensureCached } from './fetch.js';
import { readEntryConfig } from './cache.js';
import { removeAbandonedUnpacks, sharedUnpackDir, unpackInto, unpackTarget } from './unpack.js';

/**
 * The reference into a verified, digest-keyed cache entry, then its rootfs. As root the entry is unpacked
 * once, into the entry itself, and every later run (any instance) reuses that tree: runc-bundle gives each
 * container a writable overlay over it, so nothing is unpacked or copied again. Rootless: unpacked for the
 * user into this instance's own folder, as before.
 */
export async function up(ctx: Ctx): Promise<ImageFetchState> {
  requireRoot('image-fetch');
  const src = parseReference(ctx.config.image);
  const user = ctx.config.rootless ? rootlessUser(ctx.config) : undefined;
  const hit = await ensureCached(ctx, src);
  try {
    const shared = !user;
    const unpackDir = shared ? sharedUnpackDir(hit.entry) : unpackTarget(ctx, user);
    const rootfsDir = path.join(unpackDir, 'rootfs');
    const previous = ctx.state.read<ImageFetchState>('image-fetch');
    if (
      previous?.cacheEntry === hit.entry &&
      previous.unpackDir === unpackDir &&
      previous.ownerUid === user?.uid &&
      existsSync(rootfsDir)
    ) {
      ctx.log.info(`image ${ctx.config.image} already unpacked (${hit.digest.slice(0, 19)})`);
      return previous;
    }
    // the entry's lock is held (hit.release below): no other run unpacks or prunes this entry meanwhile
    let unpacked = true;
    if (shared) {
      removeAbandonedUnpacks(unpackDir);
      if (existsSync(rootfsDir)) unpacked = false;
      else await unpackInto(ctx, hit.entry, unpackDir, undefined);
      // the instance's own unpack from an earlier version goes: the shared tree replaces it
      rmSync(ctx.names.unpackDir, { recursive: true, force: true });
    } else {
      await unpackInto(ctx, hit.entry, unpackDir, user);
    }
    const info = readEntryConfig(hit.entry);
    faultPoint('image-fetch:before-state');
    const state: ImageFetchState = {
      reference: ctx.config.image,
      layout: hit.entry,
      tag: 'image',
      manifestDigest: info.manifestDigest,
      unpackDir,
      rootfsDir,
      imageConfig: info.imageConfig,
      sourceDigest: hit.digest,
      cacheEntry: hit.entry,
      platform: info.platform,
      ...(user ? { ownerUid: user.uid } : {}),
      ...(shared ? { sharedRootfs: true } : {}),
    };
    ctx.state.write('image-fetch', state);
    const how = [hit.fetched ? '' : 'from cache', unpacked ? '' : 'unpacked before'].filter(Boolean).join(', ');
    ctx.log.info(`image ${ctx.config.image} -> ${hit.digest} (${info.platform}${how ? `, ${how}` : ''}), rootfs ${rootfsDir}`);
    return state;
  } finally {
    hit.release();
  }
}
