import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  bundleContainers,
  containerIds,
  containerNames,
  createProgress,
  type Ctx,
  faultPoint,
  isMountPoint,
  mapLimit,
  requireRoot,
  rootlessDir,
  type RuncBundleState,
} from '@cni-demo/core';
import { runcArgs, runcKnows, runcState } from './runc.js';
import { unpin } from './up.js';

/** Every container id down looks after: from the state, the config and the per-container folders on disk. */
function downIds(ctx: Ctx, s: RuncBundleState | undefined): string[] {
  const ids = new Set<string>([...(s ? bundleContainers(s).map((c) => c.containerId) : []), ...containerIds(ctx.config)]);
  const perContainer = path.join(ctx.names.runDir, 'containers');
  if (existsSync(perContainer)) for (const d of readdirSync(perContainer)) ids.add(d);
  return [...ids];
}

/**
 * Only the `runc delete --force` of every container runc knows (no pins, overlays or bundles): the step's
 * stop-containers stage, which the graph runs alongside cni-attach's DEL (DEL needs the container's network
 * namespace, which the pin keeps after the container's processes are gone, not the processes). down then
 * finds the containers gone and does the rest; a delete that fails here is retried and reported there.
 */
export async function deleteContainersEarly(ctx: Ctx): Promise<void> {
  requireRoot('runc-bundle down');
  const s = ctx.state.read<RuncBundleState>('runc-bundle');
  await mapLimit(
    downIds(ctx, s).filter((id) => runcKnows(ctx, id)),
    ctx.config.concurrency,
    (id) => ctx.exec('runc', runcArgs(ctx, 'delete', '--force', id), { allowFail: true }),
  );
}

/**
 * Deletes every container, its netns pin, its overlay and its bundle. The ids come from the state, the
 * config and the folders found on disk together, so a changed --containers or lost state still finds all.
 */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('runc-bundle down');
  const s = ctx.state.read<RuncBundleState>('runc-bundle');
  const perContainer = path.join(ctx.names.runDir, 'containers');
  const list = downIds(ctx, s);
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
    // the pin and the overlay (as recorded, and where it would be for one container or many) at once
    const names = containerNames(ctx.config, id);
    const recorded = s?.containers?.find((c) => c.containerId === id)?.overlay;
    const mounts = new Set([recorded?.mount, names.rootfsMount, path.join(perContainer, id, 'rootfs')]);
    await Promise.all([
      unpin(ctx, path.join(ctx.config.netnsDir, id)),
      (async () => {
        for (const m of mounts) while (m && isMountPoint(m)) await ctx.exec('umount', [m]);
      })(),
    ]);
    for (const d of [recorded?.upper, recorded?.work, recorded?.mount, names.upperDir, names.workDir, names.rootfsMount]) {
      if (d?.startsWith(`${ctx.names.runDir}/`) && !isMountPoint(d)) rmSync(d, { recursive: true, force: true });
    }
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
