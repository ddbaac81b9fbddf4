import { mkdirSync, readFileSync, rmSync } from 'node:fs';
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
  type RuncState,
  ownershipProblems,
  rootlessDir,
  UserErrors,
  writeFileNoFollow,
} from '@cni-demo/core';
import { writeBundleSpec } from './bundle-spec.js';
import { type LogKeeper, startLogKeeper } from './log-keeper.js';
import { containerProcessProblem, pin, unpin } from './pin.js';
import { bundleDirFor, runcUser } from './rootless.js';
import { runc, runcKnows, runcState } from './runc.js';
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
  const known = await refuseOthers(ctx, user);
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

  // one keeper of the containers' output for this run, started when the first container is created
  let keeper: LogKeeper | undefined;
  const logKeeper = () =>
    (keeper ??= startLogKeeper(
      ids.map((id) => path.join(bundlePath(ctx, id, user), 'container.log')),
      ctx.config.containerLogMaxBytes,
    ));
  const progress = createProgress('containers', ids.length, { quiet: ctx.config.json || Boolean(ctx.log.quiet) });
  const containers = await mapLimit(ids, ctx.config.concurrency, async (id, index) => {
    // a shared rootfs (the cache's own tree) is never written to: every container gets an overlay over it
    const overlay = ids.length > 1 || Boolean(image.sharedRootfs);
    const c = await upOne(ctx, { id, index, image, overlay, specTemplate, user, previous, logKeeper, current: known.get(id) });
    progress.tick();
    return c;
  }).finally(() => {
    progress.done();
    keeper?.release();
  });

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
    /** position in containerIds: the container's pipe to the log keeper */
    index: number;
    image: ImageFetchState;
    overlay: boolean;
    specTemplate: () => Promise<RuntimeSpec>;
    user: RootlessUser | undefined;
    previous: RuncBundleState | undefined;
    logKeeper: () => LogKeeper;
    /** what runc said of the id (ours, refuseOthers checked) */
    current: RuncState | undefined;
  },
): Promise<ContainerBundle> {
  const { id, image, user } = o;
  const n = containerNames(ctx.config, id);
  const bundleDir = user ? await bundleDirFor(ctx, user) : n.bundleDir;
  const args = httpdContainerId(ctx.config) === id ? HTTPD_ARGS : undefined;
  const ov = o.overlay ? { lower: image.rootfsDir, upper: n.upperDir, work: n.workDir, mount: n.rootfsMount } : undefined;
  const rootfsDir = ov ? ov.mount : image.rootfsDir;
  // kept from the run that created the container: a rerun that finds it running leaves its files alone
  const before = o.previous?.containers?.find((c) => c.containerId === id);
  let etcFiles = before?.etcFiles ?? (o.previous?.containerId === id ? o.previous.etcFiles : undefined);

  let current = o.current;
  if (
    current &&
    !(
      current.status === 'running' &&
      !containerProcessProblem(current.pid, user) &&
      pinMatches(n.netnsPath, current.pid) &&
      (!ov || isMountPoint(ov.mount))
    )
  ) {
    // a half-made container from an interrupted run: redo it rather than guess
    await ctx.exec(...runc(ctx, user, 'delete', '--force', id), { allowFail: true });
    await unpin(ctx, n.netnsPath);
    current = undefined;
  }
  let pidStart = current && before?.pid === current.pid ? before.pidStart : undefined;
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
    // the container keeps its stdio: it gets its own pipe to the log keeper (which caps what it keeps), not
    // ours, or runc create would never return to us. The log is in the bundle, root's in both modes.
    const logFile = path.join(bundleDir, 'container.log');
    writeFileNoFollow(logFile, '', 0o600);
    rmSync(`${logFile}.1`, { force: true });
    const keeper = o.logKeeper();
    // root mode: runc writes the pid where we ask (no `runc state` process). Rootless, runc runs as the user
    // and cannot write into root's bundle; its state names the pid, and pin() checks that claim.
    const pidFile = path.join(bundleDir, 'container.pid');
    rmSync(pidFile, { force: true });
    try {
      await ctx.exec(...runc(ctx, user, 'create', '--bundle', bundleDir, ...(user ? [] : ['--pid-file', pidFile]), id), {
        output: {
          to: keeper.pipe(o.index),
          // a failed create's own messages went to the keeper too: they come back once our end is closed
          tail: () => {
            keeper.close(o.index);
            return keeper.tail(o.index);
          },
        },
        timeoutMs: 60_000,
      });
    } finally {
      keeper.close(o.index);
    }
    const pid = (user ? undefined : readPidFile(pidFile)) ?? (await runcState(ctx, id, user))?.pid;
    if (!pid || !runcKnows(ctx, id)) throw new Error(`runc create ${id} returned but the container does not exist`);
    faultPoint('runc-bundle:after-create');
    pidStart = await pin(ctx, pid, n.netnsPath, user, id);
    await ctx.exec(...runc(ctx, user, 'start', id));
    current = { id, pid, status: 'running', bundle: bundleDir };
  }
  return {
    containerId: id,
    bundleDir,
    pid: current.pid,
    ...(pidStart !== undefined ? { pidStart } : {}),
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

export { pin, unpin };

/** up never takes over what another made (core ownershipProblems): all problems at once, before anything is made. */
async function refuseOthers(ctx: Ctx, user: RootlessUser | undefined): Promise<Map<string, RuncState | undefined>> {
  const { problems, known } = await ownershipProblems(ctx.exec, ctx.config, user);
  if (problems.length === 1 && problems[0]) throw problems[0];
  if (problems.length > 1) throw new UserErrors(problems, `${problems.length} of the names this up would use belong to others`);
  return known;
}

/** Where a container's bundle is (rootless: the instance's rootless folder), without making anything. */
function bundlePath(ctx: Ctx, id: string, user: RootlessUser | undefined): string {
  return user ? path.join(rootlessDir(ctx.config), 'bundle') : containerNames(ctx.config, id).bundleDir;
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
