import { readdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, type ImageFetchState, ownerOf, removeTree, requireRoot, rootlessDir } from '@cni-demo/core';

/**
 * Removes this instance's unpacked rootfs. The image cache stays (keyed by digest and reused), and with it
 * the entry's shared unpacked tree (`sharedRootfs`): the next run of any instance mounts it again.
 */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('image-fetch down');
  const s = ctx.state.read<ImageFetchState>('image-fetch');
  const rdir = rootlessDir(ctx.config);
  const rootless = path.join(rdir, 'image');
  for (const dir of new Set([ctx.names.unpackDir, ...(s && !s.sharedRootfs && s.unpackDir !== rootless ? [s.unpackDir] : [])])) {
    rmSync(dir, { recursive: true, force: true });
  }
  // the rootless tree belongs to the user who ran it (whatever the config says now): removed as that user
  await removeTree(ctx.exec, rootless, ownerOf(path.join(rootless, 'rootfs')) ?? ownerOf(rootless) ?? ownerOf(rdir));
  await removeTree(ctx.exec, path.join(rdir, '.staging'), undefined);
  // the rootless folder (and its parent) go once runc-bundle down has emptied them
  for (const dir of [rdir, path.dirname(rdir)]) {
    try {
      if (readdirSync(dir).length === 0) rmdirSync(dir);
    } catch {
      /* absent or not empty */
    }
  }
  ctx.state.remove('image-fetch');
  ctx.state.removeDirIfEmpty();
}
