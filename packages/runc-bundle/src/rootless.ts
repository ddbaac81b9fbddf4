import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, type RootlessUser, rootlessDir, rootlessUser, UserError } from '@cni-demo/core';
import type { RuntimeSpec } from './spec.js';

/** The user runc runs as, or undefined for the usual root mode. */
export function runcUser(ctx: Ctx): RootlessUser | undefined {
  return ctx.config.rootless ? rootlessUser(ctx.config) : undefined;
}

/**
 * Where the bundle lives: rootless in the user's folder beside the state folder (root's alone). Rootless,
 * this also readies runc's state root for the user, before any runc call could create it as root.
 */
export function bundleDirFor(ctx: Ctx, user: RootlessUser | undefined): string {
  if (!user) return ctx.names.bundleDir;
  prepareRuncRoot(ctx, user);
  const dir = rootlessDir(ctx.config);
  mkdirSync(path.dirname(dir), { recursive: true, mode: 0o711 });
  chmodSync(path.dirname(dir), 0o711);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, user.uid, user.gid);
  const bundle = path.join(dir, 'bundle');
  mkdirSync(bundle, { recursive: true, mode: 0o700 });
  chownSync(bundle, user.uid, user.gid);
  return bundle;
}

/**
 * runc keeps its state under --root, which the unprivileged user must own. A folder we create is given to
 * the user; one owned by someone else (the default /run/runc is root's) is refused rather than taken over.
 */
export function prepareRuncRoot(ctx: Ctx, user: RootlessUser): void {
  const root = ctx.config.runcRoot;
  if (!existsSync(root)) {
    mkdirSync(path.dirname(root), { recursive: true });
    mkdirSync(root, { mode: 0o700 });
    chownSync(root, user.uid, user.gid);
    return;
  }
  if (statSync(root).uid !== user.uid) {
    throw new UserError(`runcRoot ${root} belongs to uid ${statSync(root).uid}, but rootless runc runs as ${user.name} (uid ${user.uid})`, {
      field: 'runcRoot',
      hint: `give rootless mode its own runc state folder: --runc-root /run/user/${user.uid}/runc (or any path that does not exist yet)`,
    });
  }
}

/** argv that runs `runc <args>` as the user (setpriv: no shell, no login, the same environment). */
export function runcArgv(user: RootlessUser | undefined, args: string[]): [string, string[]] {
  if (!user) return ['runc', args];
  return ['setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', '--', 'runc', ...args]];
}

/**
 * What `runc spec --rootless` makes, for the user rather than for whoever ran it: container root mapped to
 * the user's uid and gid (one id each: no subordinate ids, no newuidmap), no cgroup limits.
 */
export function applyRootless(spec: RuntimeSpec, user: RootlessUser): RuntimeSpec {
  const out = structuredClone(spec);
  out.linux.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }];
  out.linux.gidMappings = [{ containerID: 0, hostID: user.gid, size: 1 }];
  if (!out.linux.namespaces.some((n) => n.type === 'user')) out.linux.namespaces.push({ type: 'user' });
  delete out.linux.resources;
  // runc spec's RLIMIT_NOFILE 1024 breaks `runc exec` from root (verify's checks): setting it from outside
  // the user namespace is refused. The container inherits the user's limits instead.
  delete out.process.rlimits;
  return out;
}
