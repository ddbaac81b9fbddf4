import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  bundleContainers,
  type Ctx,
  containerIds,
  createProgress,
  faultPoint,
  mapLimit,
  type RuncBundleState,
  requireRoot,
  rootlessDir,
} from '@cni-demo/core';
import { isMountPoint, runcArgs, runcKnows, runcState } from './runc.js';
import { unpin } from './up.js';

/**
 * Deletes every container, its netns pin, its overlay and its bundle. The ids come from the state, the
 * config and the folders found on disk together, so a changed --containers or lost state still finds all.
 */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('runc-bundle down');
  const s = ctx.state.read<RuncBundleState>('runc-bundle');
  const ids = new Set<string>([...(s ? bundleContainers(s).map((c) => c.containerId) : []), ...containerIds(ctx.config)]);
  const perContainer = path.join(ctx.names.runDir, 'containers');
  if (existsSync(perContainer)) for (const d of readdirSync(perContainer)) ids.add(d);

  const list = [...ids];
  const progress = createProgress('delete', list.length, { quiet: ctx.config.json || Boolean(ctx.log.quiet) });
  await mapLimit(list, ctx.config.concurrency, async (id) => {
    // delete --force stops and removes in one call; asking `runc state` first would cost a process each
    if (runcKnows(ctx, id)) {
      const r = await ctx.exec('runc', runcArgs(ctx, 'delete', '--force', id), { allowFail: true });
      if (r.exitCode !== 0 && runcKnows(ctx, id) && (await runcState(ctx, id))) {
        await ctx.exec('runc', runcArgs(ctx, 'delete', '--force', id));
      }
    }
    faultPoint('runc-bundle:down-after-delete');
    await unpin(ctx, path.join(ctx.config.netnsDir, id));
    const mount = s?.containers?.find((c) => c.containerId === id)?.overlay?.mount ?? path.join(perContainer, id, 'rootfs');
    while (isMountPoint(mount)) await ctx.exec('umount', [mount]);
    rmSync(path.join(perContainer, id), { recursive: true, force: true });
    progress.tick();
  }).finally(() => progress.done());
  rmSync(ctx.names.bundleDir, { recursive: true, force: true });
  rmSync(path.join(rootlessDir(ctx.config), 'bundle'), { recursive: true, force: true });
  try {
    if (existsSync(perContainer) && readdirSync(perContainer).length === 0) rmSync(perContainer, { recursive: true });
  } catch {
    /* not empty: a mount we could not remove is reported by verify down */
  }
  ctx.state.remove('runc-bundle');
  ctx.state.removeDirIfEmpty();
}
