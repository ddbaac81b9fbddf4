import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, faultPoint, type ImageFetchState, type RuncBundleState, requireRoot, writeFileAtomic } from '@cni-demo/core';
import { runcArgs, pinMatches, isMountPoint, runcState } from './runc.js';
import { applyImage, type RuntimeSpec } from './spec.js';

/** config.json from `runc spec` and the image config, then runc create, netns pin, runc start. */
export async function up(ctx: Ctx): Promise<RuncBundleState> {
  requireRoot('runc-bundle');
  const image = ctx.state.require<ImageFetchState>('image-fetch', 'runc-bundle');
  const id = ctx.names.containerId;
  const bundle = ctx.names.bundleDir;
  const netnsPath = ctx.names.netnsPath;

  let current = await runcState(ctx, id);
  if (current && !(current.status === 'running' && pinMatches(netnsPath, current.pid))) {
    // a half-made container from an interrupted run: redo it rather than guess
    await ctx.exec('runc', runcArgs(ctx, 'delete', '--force', id), { allowFail: true });
    await unpin(ctx, netnsPath);
    current = undefined;
  }
  if (!current) {
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    rmSync(path.join(bundle, 'config.json'), { force: true });
    await ctx.exec('runc', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8')) as RuntimeSpec;
    const filled = applyImage(spec, image.imageConfig, { rootfs: image.rootfsDir, hostname: id });
    writeFileAtomic(path.join(bundle, 'config.json'), `${JSON.stringify(filled, null, 2)}\n`, 0o600);
    // the container keeps its stdio: give it a file, not our pipes, or runc create never returns to us
    const logFile = path.join(bundle, 'container.log');
    writeFileSync(logFile, '', { mode: 0o600 });
    await ctx.exec('runc', runcArgs(ctx, 'create', '--bundle', bundle, id), { outputFile: logFile, timeoutMs: 60_000 });
    const created = await runcState(ctx, id);
    if (!created) throw new Error(`runc create ${id} returned but the container does not exist`);
    faultPoint('runc-bundle:after-create');
    await pin(ctx, created.pid, netnsPath);
    await ctx.exec('runc', runcArgs(ctx, 'start', id));
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
