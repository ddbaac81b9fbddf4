import { chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, faultPoint, type ImageFetchState, type RuncBundleState, requireRoot } from '@cni-demo/core';
import { writeBundleSpec } from './bundle-spec.js';
import { bundleDirFor, runcArgv, runcUser } from './rootless.js';
import { runcArgs, pinMatches, isMountPoint, runcState } from './runc.js';

/** config.json from `runc spec` and the image config, then runc create, netns pin, runc start. */
export async function up(ctx: Ctx): Promise<RuncBundleState> {
  requireRoot('runc-bundle');
  const image = ctx.state.require<ImageFetchState>('image-fetch', 'runc-bundle');
  const id = ctx.names.containerId;
  const user = runcUser(ctx);
  const bundle = bundleDirFor(ctx, user);
  const netnsPath = ctx.names.netnsPath;

  let current = await runcState(ctx, id);
  // kept from the run that created the container: a rerun that finds it running leaves its files alone
  let etcFiles = ctx.state.read<RuncBundleState>('runc-bundle')?.etcFiles;
  if (current && !(current.status === 'running' && pinMatches(netnsPath, current.pid))) {
    // a half-made container from an interrupted run: redo it rather than guess
    await ctx.exec('runc', runcArgs(ctx, 'delete', '--force', id), { allowFail: true });
    await unpin(ctx, netnsPath);
    current = undefined;
  }
  if (!current) {
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    etcFiles = (await writeBundleSpec(ctx, { bundle, image, id, user })).etcFiles;
    // the container keeps its stdio: give it a file, not our pipes, or runc create never returns to us
    const logFile = path.join(bundle, 'container.log');
    writeFileSync(logFile, '', { mode: 0o600 });
    if (user) chownSync(logFile, user.uid, user.gid);
    await ctx.exec(...runcArgv(user, runcArgs(ctx, 'create', '--bundle', bundle, id)), { outputFile: logFile, timeoutMs: 60_000 });
    const created = await runcState(ctx, id);
    if (!created) throw new Error(`runc create ${id} returned but the container does not exist`);
    faultPoint('runc-bundle:after-create');
    await pin(ctx, created.pid, netnsPath);
    await ctx.exec(...runcArgv(user, runcArgs(ctx, 'start', id)));
    current = { ...created, status: 'running' };
  }
  faultPoint('runc-bundle:before-state');
  const state: RuncBundleState = {
    containerId: id,
    bundleDir: bundle,
    runcRoot: ctx.config.runcRoot,
    pid: current.pid,
    netnsPath,
    rootfsDir: image.rootfsDir,
    ...(user ? { rootless: user } : {}),
    ...(etcFiles ? { etcFiles } : {}),
  };
  ctx.state.write('runc-bundle', state);
  ctx.log.info(`container ${id} running (pid ${current.pid}), netns pinned at ${netnsPath}`);
  return state;
}

/** A bind mount of /proc/<pid>/ns/net, as `ip netns` makes: it outlives the pid, unlike a symlink. */
export async function pin(ctx: Ctx, pid: number, netnsPath: string): Promise<void> {
  if (pinMatches(netnsPath, pid)) return;
  await unpin(ctx, netnsPath);
  mkdirSync(path.dirname(netnsPath), { recursive: true });
  writeFileSync(netnsPath, '', { mode: 0o444 });
  await ctx.exec('mount', ['--bind', `/proc/${pid}/ns/net`, netnsPath]);
}

export async function unpin(ctx: Ctx, netnsPath: string): Promise<void> {
  while (isMountPoint(netnsPath)) await ctx.exec('umount', [netnsPath]);
  rmSync(netnsPath, { force: true });
}
