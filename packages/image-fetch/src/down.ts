import { readdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, type ImageFetchState, requireRoot, rootlessDir } from '@cni-demo/core';

/**
 * Removes this instance's unpacked rootfs. The image cache stays (keyed by digest and reused), and with it
 * the entry's shared unpacked tree (`sharedRootfs`): the next run of any instance mounts it again.
 */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('image-fetch down');
  const s = ctx.state.read<ImageFetchState>('image-fetch');
  const rdir = rootlessDir(ctx.config);
  for (const dir of new Set([ctx.names.unpackDir, path.join(rdir, 'image'), ...(s && !s.sharedRootfs ? [s.unpackDir] : [])])) {
    rmSync(dir, { recursive: true, force: true });
  }
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
