import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, faultPoint, type ImageFetchState, requireRoot, rootlessUser } from '@cni-demo/core';
import { ensureCached } from './fetch.js';
import { readEntryConfig } from './cache.js';
import { parseReference } from './reference.js';
import { unpackInto, unpackTarget } from './unpack.js';

/** The reference into a verified, digest-keyed cache entry, then unpacked into this instance's rootfs. */
export async function up(ctx: Ctx): Promise<ImageFetchState> {
  requireRoot('image-fetch');
  const src = parseReference(ctx.config.image);
  const user = ctx.config.rootless ? rootlessUser(ctx.config) : undefined;
  const hit = await ensureCached(ctx, src);
  try {
    const unpackDir = unpackTarget(ctx, user);
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
    await unpackInto(ctx, hit.entry, unpackDir, user);
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
    };
    ctx.state.write('image-fetch', state);
    ctx.log.info(`image ${ctx.config.image} -> ${hit.digest} (${info.platform}${hit.fetched ? '' : ', from cache'}), rootfs ${rootfsDir}`);
    return state;
  } finally {
    hit.release();
  }
}
