import { rmSync } from 'node:fs';
import { type Ctx, requireRoot } from '@cni-demo/core';

/** Removes the unpacked rootfs (the image cache stays: it is keyed by digest and reused). */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('image-fetch down');
  rmSync(ctx.names.unpackDir, { recursive: true, force: true });
  ctx.state.remove('image-fetch');
  ctx.state.removeDirIfEmpty();
}
