import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { CommandError, type Ctx, makeRootlessDir, type RootlessUser, removeTree, rootOwnedDir, UserError } from '@cni-demo/core';
import { ENTRY_TAG } from './cache.js';
import { formatFree, roomAt } from './disk.js';

/**
 * Where this instance's rootfs goes. Rootless: in the instance's rootless folder beside the state folder
 * (core makeRootlessDir: root's, open to the user's group), so runc running as that user can reach it.
 */
export function unpackTarget(ctx: Ctx, user: RootlessUser | undefined): string {
  if (!user) return ctx.names.unpackDir;
  return path.join(makeRootlessDir(ctx.config, user), 'image');
}

/** The cache entry's own unpacked bundle (rootfs/ plus umoci's metadata), shared by every root instance. */
export function sharedUnpackDir(entry: string): string {
  return path.join(entry, 'unpacked');
}

/** Temporary siblings of an unpack target left by a run that was killed mid-unpack. Call with the entry's lock held. */
export function removeAbandonedUnpacks(target: string): void {
  const base = path.basename(target);
  let names: string[] = [];
  try {
    names = readdirSync(path.dirname(target));
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith(`${base}.tmp-`) || n.startsWith(`${base}.old-`))
      rmSync(path.join(path.dirname(target), n), { recursive: true, force: true });
  }
}

/**
 * umoci unpack into a temporary sibling, renamed into place only when complete: a failure (a bad layer, a
 * full disk, however umoci reports it) leaves no partial rootfs. umoci applies whiteouts, hard links and
 * ownership from the layers. Rootless: umoci's --rootless mode (as `umoci unpack --rootless` in the
 * walkthrough), in a staging folder only root can enter; then the rootfs (only it) is given to the user, whose
 * uid is root inside the container's user namespace, and the bundle is moved into place. The user never sees
 * the tree before it is theirs, and an earlier tree of theirs is removed as the user (core removeTree), not by
 * root walking it.
 */
export async function unpackInto(ctx: Ctx, entry: string, target: string, user: RootlessUser | undefined): Promise<void> {
  const staging = user ? path.join(path.dirname(target), '.staging') : path.dirname(target);
  if (user) {
    rootOwnedDir(staging, 0o700);
    // left by a run killed mid-unpack: never reachable by the user, so root may remove it
    for (const n of readdirSync(staging)) rmSync(path.join(staging, n), { recursive: true, force: true });
  } else mkdirSync(staging, { recursive: true, mode: 0o700 });
  const tmp = user ? path.join(staging, `tmp-${randomBytes(4).toString('hex')}`) : `${target}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await ctx.exec('umoci', ['unpack', ...(user ? ['--rootless'] : []), '--image', `${entry}:${ENTRY_TAG}`, tmp], {
      timeoutMs: ctx.config.pullTimeoutMs,
    });
    if (user) {
      await ctx.exec('chown', ['-R', '-h', `${user.uid}:${user.gid}`, path.join(tmp, 'rootfs')]);
      lchownSync(tmp, 0, user.gid);
      chmodSync(tmp, 0o750);
      await removeTree(ctx.exec, target, user);
    } else if (existsSync(target)) {
      const old = `${target}.old-${randomBytes(4).toString('hex')}`;
      renameSync(target, old);
      rmSync(old, { recursive: true, force: true });
    }
    renameSync(tmp, target);
    if (user) rmdirSync(staging);
  } catch (e) {
    // judged before the partial tree goes: what is free now is what the unpack had left
    const room = e instanceof CommandError ? roomAt(path.dirname(target)) : undefined;
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof CommandError && (/no space left on device/i.test(e.stderr) || room?.full)) {
      throw Object.assign(
        new UserError(
          `the disk is full: unpacking the image into ${path.dirname(target)} ran out of space${room ? ` (${formatFree(room)})` : ''}; the partial rootfs was removed`,
          {
            hint: `free space there (df -h ${path.dirname(target)}) or point ${path.resolve(target).startsWith(`${path.resolve(ctx.config.imageCacheDir)}/`) ? '--image-cache-dir' : '--state-dir'} at a larger filesystem, then run image-fetch again`,
          },
        ),
        { cause: e },
      );
    }
    throw e;
  }
}
