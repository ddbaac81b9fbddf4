import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  asUser,
  bundleContainers,
  containerIds,
  containerNames,
  createProgress,
  type Ctx,
  faultPoint,
  foreignPinReason,
  isMountPoint,
  isOwnBundle,
  mapLimit,
  type RuncBundleState,
  reclaimPin,
  recordedContainerIds,
  removeTree,
  requireRoot,
  type RootlessUser,
  rootlessDir,
  runcUserOf,
} from '@cni-demo/core';
import { procStart, unpin } from './pin.js';
import { runc, runcKnows, runcOrigin, runcState } from './runc.js';

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
  const user = runcUserOf(ctx.config, s?.rootless);
  const owned = ownedIds(ctx, s);
  await mapLimit(
    downIds(ctx, s).filter((id) => runcKnows(ctx, id)),
    ctx.config.concurrency,
    async (id) => {
      // only a container made from one of our bundles (down says so about any other, later)
      if ((await ownership(ctx, id, user, owned)) === 'ours')
        await ctx.exec(...runc(ctx, user, 'delete', '--force', id), { allowFail: true });
    },
  );
}

/** The ids this instance has a record of: its bundle folders, its state. */
function ownedIds(ctx: Ctx, s: RuncBundleState | undefined): Set<string> {
  return new Set([...recordedContainerIds(ctx.config), ...(s ? bundleContainers(s).map((c) => c.containerId) : [])]);
}

/**
 * Whose the runc container `id` is: ours when runc says it was made from one of this instance's bundle
 * folders (made before `runc create`, so a half-made container of ours is ours too), `absent` when runc
 * has no readable state for it, else the bundle it names. A container of ours whose record was lost with
 * the run folder gets its record back when its pin holds its netns (core reclaimPin), before it is deleted.
 */
async function ownership(
  ctx: Ctx,
  id: string,
  user: RootlessUser | undefined,
  owned: Set<string>,
): Promise<'ours' | 'absent' | { bundle: string }> {
  const origin = await runcOrigin(ctx.exec, ctx.config.runcRoot, id, user);
  if (origin?.bundle === undefined) return 'absent';
  if (!isOwnBundle(ctx.config, id, origin.bundle)) return { bundle: origin.bundle };
  if (!owned.has(id) && reclaimPin(ctx.config, id, origin.pid)) owned.add(id);
  return 'ours';
}

/**
 * Rootless: the user's runc refused to delete (its state, which the user can edit, may name a process the
 * user cannot kill). The container's init as recorded when we pinned it (pid and start time, from root's
 * state) is killed as the user, and runc's folder for it is removed as the user: the user's own rights,
 * whatever the state says.
 */
async function deleteAsUser(
  ctx: Ctx,
  user: RootlessUser,
  id: string,
  recorded: { pid: number; pidStart?: number } | undefined,
): Promise<void> {
  if (recorded?.pidStart !== undefined && procStart(recorded.pid) === recorded.pidStart) {
    await ctx.exec(...asUser(user, 'kill', ['-KILL', String(recorded.pid)]), { allowFail: true });
  }
  await ctx.exec(...asUser(user, 'rm', ['-rf', '--', path.join(ctx.config.runcRoot, id)]), { allowFail: true });
  ctx.log.warn(
    `runc (as ${user.name}) could not delete container ${id}: its recorded process was killed and its runc state removed as ${user.name}`,
  );
}

/**
 * Deletes every container, its netns pin, its overlay and its bundle. The ids come from the state, the
 * config and the folders found on disk together, so a changed --containers or lost state still finds all;
 * but only what this instance made is touched (core host/ownership.ts): a runc container made from another
 * bundle, or a pin this instance has no record of, is left alone, and down says so.
 */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('runc-bundle down');
  const s = ctx.state.read<RuncBundleState>('runc-bundle');
  const user = runcUserOf(ctx.config, s?.rootless);
  const perContainer = path.join(ctx.names.runDir, 'containers');
  const list = downIds(ctx, s);
  // the records are read before anything is removed: the bundle folders go last
  const owned = ownedIds(ctx, s);
  const progress = createProgress('delete', list.length, { quiet: ctx.config.json || Boolean(ctx.log.quiet) });
  await mapLimit(list, ctx.config.concurrency, async (id) => {
    const who = runcKnows(ctx, id) ? await ownership(ctx, id, user, owned) : 'absent';
    if (typeof who === 'object') {
      ctx.log.warn(`runc container ${id} was made from ${who.bundle}, not by this instance: left alone`);
    } else if (who === 'ours') {
      // delete --force stops and removes in one call
      await ctx.exec(...runc(ctx, user, 'delete', '--force', id), { allowFail: true });
      // not the exit code: runc delete --force exits 0 when it could not kill what its state names
      if (runcKnows(ctx, id) && (await runcState(ctx, id, user))) {
        const again = await ctx.exec(...runc(ctx, user, 'delete', '--force', id), { allowFail: !!user });
        if (user && (again.exitCode !== 0 || runcKnows(ctx, id))) {
          const recorded = s ? bundleContainers(s).find((c) => c.containerId === id) : undefined;
          await deleteAsUser(ctx, user, id, recorded);
        }
      }
    }
    faultPoint('runc-bundle:down-after-delete');
    // the pin and the overlay (as recorded, and where it would be for one container or many) at once
    const names = containerNames(ctx.config, id);
    const recorded = s?.containers?.find((c) => c.containerId === id)?.overlay;
    const mounts = new Set([recorded?.mount, names.rootfsMount, path.join(perContainer, id, 'rootfs')]);
    const pin = path.join(ctx.config.netnsDir, id);
    const foreign = foreignPinReason(pin, owned.has(id));
    if (foreign) ctx.log.warn(`netns pin of ${id} left alone: ${foreign}`);
    await Promise.all([
      foreign ? undefined : unpin(ctx, pin),
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
  // root's (rootOwnedDir), but removed without following anything in it in case an older version left it the user's
  await removeTree(ctx.exec, path.join(rootlessDir(ctx.config), 'bundle'), user);
  try {
    if (existsSync(perContainer) && readdirSync(perContainer).length === 0) rmSync(perContainer, { recursive: true });
  } catch {
    /* not empty: a mount we could not remove is reported by verify down */
  }
  ctx.state.remove('runc-bundle');
  ctx.state.removeDirIfEmpty();
}
