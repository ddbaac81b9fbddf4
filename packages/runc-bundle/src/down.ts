import { rmSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, faultPoint, requireRoot, rootlessDir } from '@cni-demo/core';
import { runcArgs, runcState } from './runc.js';
import { unpin } from './up.js';

/** Deletes the container, its netns pin and its bundle; finds them by derived names, so state may be gone. */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('runc-bundle down');
  const id = ctx.names.containerId;
  if (await runcState(ctx, id)) await ctx.exec('runc', runcArgs(ctx, 'delete', '--force', id));
  faultPoint('runc-bundle:down-after-delete');
  await unpin(ctx, ctx.names.netnsPath);
  rmSync(ctx.names.bundleDir, { recursive: true, force: true });
  rmSync(path.join(rootlessDir(ctx.config), 'bundle'), { recursive: true, force: true });
  ctx.state.remove('runc-bundle');
  ctx.state.removeDirIfEmpty();
}
