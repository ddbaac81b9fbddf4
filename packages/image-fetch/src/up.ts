import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, faultPoint, type ImageFetchState, requireRoot, UserError, withLock } from '@cni-demo/core';
import { ensureBuiltinBusybox } from './builtin.js';
import { findTag, readImageConfig } from './oci.js';

export function layoutDir(ctx: Ctx): string {
  return path.join(ctx.config.imageCacheDir, 'oci');
}

/** Resolves the configured image into a tag in the OCI layout cache. */
async function resolveImage(ctx: Ctx, layout: string): Promise<string> {
  const ref = ctx.config.image;
  if (ref === 'builtin:busybox') return ensureBuiltinBusybox(ctx, layout);
  throw new UserError(`image "${ref}" is not supported`, {
    field: 'image',
    hint: 'use --image builtin:busybox',
  });
}

export async function up(ctx: Ctx): Promise<ImageFetchState> {
  requireRoot('image-fetch');
  const layout = layoutDir(ctx);
  mkdirSync(ctx.config.imageCacheDir, { recursive: true, mode: 0o700 });
  // one writer per layout: umoci rewrites index.json
  const { tag, manifestDigest } = await withLock(
    path.join(ctx.config.imageCacheDir, 'oci.lock'),
    async () => {
      if (!existsSync(path.join(layout, 'index.json'))) await ctx.exec('umoci', ['init', '--layout', layout]);
      const t = await resolveImage(ctx, layout);
      const desc = findTag(layout, t);
      if (!desc) throw new Error(`image tag ${t} vanished from ${layout}`);
      return { tag: t, manifestDigest: desc.digest };
    },
    { waitMs: 120_000, what: `image cache ${layout}` },
  );

  const unpackDir = ctx.names.unpackDir;
  const previous = ctx.state.read<ImageFetchState>('image-fetch');
  const rootfsDir = path.join(unpackDir, 'rootfs');
  if (previous?.manifestDigest === manifestDigest && existsSync(rootfsDir)) {
    ctx.log.info(`image ${ctx.config.image} already unpacked (${manifestDigest.slice(0, 19)})`);
    return previous;
  }
  // never reuse a partial unpack: umoci needs an absent target, and a half rootfs is worse than none
  rmSync(unpackDir, { recursive: true, force: true });
  ctx.state.ensureDir();
  try {
    await ctx.exec('umoci', ['unpack', '--image', `${layout}:${tag}`, unpackDir]);
  } catch (e) {
    rmSync(unpackDir, { recursive: true, force: true });
    throw e;
  }
  faultPoint('image-fetch:before-state');
  const state: ImageFetchState = {
    reference: ctx.config.image,
    layout,
    tag,
    manifestDigest,
    unpackDir,
    rootfsDir,
    imageConfig: readImageConfig(layout, manifestDigest),
  };
  ctx.state.write('image-fetch', state);
  ctx.log.info(`image ${ctx.config.image} -> ${manifestDigest.slice(0, 19)}, rootfs ${rootfsDir}`);
  return state;
}
