import { chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type ContainerBundle,
  containerIds,
  containerNames,
  createProgress,
  type Ctx,
  faultPoint,
  httpdContainerId,
  type ImageFetchState,
  isMountPoint,
  mapLimit,
  pinMatches,
  requireRoot,
  type RootlessUser,
  type RuncBundleState,
} from '@cni-demo/core';
import { writeBundleSpec } from './bundle-spec.js';
import { bundleDirFor, runcArgv, runcUser } from './rootless.js';
import { runcArgs, runcKnows, runcState } from './runc.js';
import type { RuntimeSpec } from './spec.js';

/** busybox httpd in the foreground, serving the builtin image's /var/www (index.html). */
export const HTTPD_ARGS = ['httpd', '-f', '-p', '80', '-h', '/var/www'];

/**
 * config.json from `runc spec` (run once, reused for every container) and the image config, then per
 * container: rootfs, runc create, netns pin, runc start — with bounded concurrency over containerIds.
 */
export async function up(ctx: Ctx): Promise<RuncBundleState> {
  requireRoot('runc-bundle');
  const image = ctx.state.require<ImageFetchState>('image-fetch', 'runc-bundle');
  const ids = containerIds(ctx.config);
  const user = runcUser(ctx);
  const previous = ctx.state.read<RuncBundleState>('runc-bundle');
  // one `runc spec` per up, shared as a promise: workers that need it at once (containers a killed down left
  // stopped, all known to the state) wait for the same run instead of racing in one folder
  let template: Promise<RuntimeSpec> | undefined;
  const specTemplate = (): Promise<RuntimeSpec> =>
    (template ??= (async () => {
      const dir = path.join(ctx.names.runDir, '.spec-template');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      await ctx.exec('runc', ['spec', ...(user ? ['--rootless'] : []), '--bundle', dir]);
      const spec = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as RuntimeSpec;
      rmSync(dir, { recursive: true, force: true });
      return spec;
    })());
  ctx.state.ensureDir();
  // one `runc spec` before the workers start, so they never race to make it
  if (ids.some((id) => !previous?.containers?.some((c) => c.containerId === id))) await specTemplate();

  const progress = createProgress('containers', ids.length, { quiet: ctx.config.json || Boolean(ctx.log.quiet) });
  const containers = await mapLimit(ids, ctx.config.concurrency, async (id) => {
    // a shared rootfs (the cache's own tree) is never written to: every container gets an overlay over it
    const c = await upOne(ctx, { id, image, overlay: ids.length > 1 || Boolean(image.sharedRootfs), specTemplate, user, previous });
    progress.tick();
    return c;
  }).finally(() => progress.done());

  faultPoint('runc-bundle:before-state');
  const first = containers[0] as ContainerBundle;
  const state: RuncBundleState = {
    containerId: first.containerId,
    bundleDir: first.bundleDir,
    runcRoot: ctx.config.runcRoot,
    pid: first.pid,
    netnsPath: first.netnsPath,
    rootfsDir: first.rootfsDir,
    ...(user ? { rootless: user } : {}),
    ...(first.etcFiles ? { etcFiles: first.etcFiles } : {}),
    containers,
  };
  ctx.state.write('runc-bundle', state);
  if (ids.length === 1) ctx.log.info(`container ${first.containerId} running (pid ${first.pid}), netns pinned at ${first.netnsPath}`);
  else ctx.log.info(`${ids.length} containers running (${ids[0]} … ${ids[ids.length - 1]}), netns pins in ${ctx.config.netnsDir}`);
  return state;
}

async function upOne(
  ctx: Ctx,
  o: {
    id: string;
    image: ImageFetchState;
    overlay: boolean;
    specTemplate: () => Promise<RuntimeSpec>;
    user: RootlessUser | undefined;
    previous: RuncBundleState | undefined;
  },
): Promise<ContainerBundle> {
  const { id, image, user } = o;
  const n = containerNames(ctx.config, id);
  const bundleDir = user ? bundleDirFor(ctx, user) : n.bundleDir;
  const args = httpdContainerId(ctx.config) === id ? HTTPD_ARGS : undefined;
  const ov = o.overlay ? { lower: image.rootfsDir, upper: n.upperDir, work: n.workDir, mount: n.rootfsMount } : undefined;
  const rootfsDir = ov ? ov.mount : image.rootfsDir;
  // kept from the run that created the container: a rerun that finds it running leaves its files alone
  const before = o.previous?.containers?.find((c) => c.containerId === id);
  let etcFiles = before?.etcFiles ?? (o.previous?.containerId === id ? o.previous.etcFiles : undefined);

  let current = await runcState(ctx, id);
  if (current && !(current.status === 'running' && pinMatches(n.netnsPath, current.pid) && (!ov || isMountPoint(ov.mount)))) {
    // a half-made container from an interrupted run: redo it rather than guess
    await ctx.exec('runc', runcArgs(ctx, 'delete', '--force', id), { allowFail: true });
    await unpin(ctx, n.netnsPath);
    current = undefined;
  }
  if (!current) {
    if (ov) await mountOverlay(ctx, ov);
    mkdirSync(bundleDir, { recursive: true, mode: 0o700 });
    etcFiles = (
      await writeBundleSpec(ctx, {
        bundle: bundleDir,
        image,
        id,
        user,
        rootfs: rootfsDir,
        base: await o.specTemplate(),
        ...(args ? { args } : {}),
      })
    ).etcFiles;
    // the container keeps its stdio: give it a file, not our pipes, or runc create never returns to us
    const logFile = path.join(bundleDir, 'container.log');
    writeFileSync(logFile, '', { mode: 0o600 });
    if (user) chownSync(logFile, user.uid, user.gid);
    // runc writes the container's pid where we ask: no `runc state` process to learn it
    const pidFile = path.join(bundleDir, 'container.pid');
    rmSync(pidFile, { force: true });
    await ctx.exec(...runcArgv(user, runcArgs(ctx, 'create', '--bundle', bundleDir, '--pid-file', pidFile, id)), {
      outputFile: logFile,
      timeoutMs: 60_000,
    });
    const pid = readPidFile(pidFile) ?? (await runcState(ctx, id))?.pid;
    if (!pid || !runcKnows(ctx, id)) throw new Error(`runc create ${id} returned but the container does not exist`);
    faultPoint('runc-bundle:after-create');
    await pin(ctx, pid, n.netnsPath);
    await ctx.exec(...runcArgv(user, runcArgs(ctx, 'start', id)));
    current = { id, pid, status: 'running', bundle: bundleDir };
  }
  return {
    containerId: id,
    bundleDir,
    pid: current.pid,
    netnsPath: n.netnsPath,
    rootfsDir,
    ...(ov ? { overlay: ov } : {}),
    ...(args ? { args } : {}),
    ...(etcFiles ? { etcFiles } : {}),
  };
}

/**
 * The fast path for many containers: each gets a writable overlay over the one unpacked image rootfs, so
 * nothing is unpacked or copied again; only the upper dir holds what the container writes.
 */
export async function mountOverlay(ctx: Ctx, ov: { lower: string; upper: string; work: string; mount: string }): Promise<void> {
  if (isMountPoint(ov.mount)) return;
  for (const d of [ov.upper, ov.work, ov.mount]) mkdirSync(d, { recursive: true, mode: 0o700 });
  await ctx.exec('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${ov.lower},upperdir=${ov.upper},workdir=${ov.work}`, ov.mount]);
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

/** The pid runc create wrote with --pid-file, or undefined when there is none (or it is not a pid). */
function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
