import { closeSync, constants, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, type Stats } from 'node:fs';
import path from 'node:path';
import { asUser, type Ctx, makeRootlessDir, type RootlessUser, rootlessUser, rootOwnedDir, UserError } from '@cni-demo/core';
import type { RuntimeSpec } from './spec.js';

/** The user runc runs as, or undefined for the usual root mode. */
export function runcUser(ctx: Ctx): RootlessUser | undefined {
  return ctx.config.rootless ? rootlessUser(ctx.config) : undefined;
}

/**
 * Where the bundle lives: rootless in the instance's rootless folder, root's like it (config.json and the
 * /etc files are root's, readable by the user's group). Rootless, this also readies runc's state root for
 * the user, before any runc call could create it as root.
 */
export async function bundleDirFor(ctx: Ctx, user: RootlessUser | undefined): Promise<string> {
  if (!user) return ctx.names.bundleDir;
  await prepareRuncRoot(ctx, user);
  const bundle = path.join(makeRootlessDir(ctx.config, user), 'bundle');
  rootOwnedDir(bundle, 0o750, user.gid);
  return bundle;
}

/**
 * runc keeps its state under --root, which the unprivileged user must own. A folder we create is made for the
 * user without root following a link there: by the user itself when the parent is the user's (the suggested
 * /run/user/<uid>/runc), else by root and handed over through a descriptor opened with O_NOFOLLOW. A folder
 * there already must be the user's own (the default /run/runc is root's and is refused, not taken over), and
 * not a link.
 */
export async function prepareRuncRoot(ctx: Ctx, user: RootlessUser): Promise<void> {
  const root = ctx.config.runcRoot;
  let st: Stats | undefined;
  try {
    st = lstatSync(root);
  } catch {
    st = undefined;
  }
  if (!st) {
    const parent = path.dirname(root);
    mkdirSync(parent, { recursive: true });
    if (lstatSync(parent).uid === user.uid) {
      await ctx.exec(...asUser(user, 'mkdir', ['-m', '0700', '--', root]));
      return;
    }
    mkdirSync(root, { mode: 0o700 });
    const fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      if (fstatSync(fd).uid !== 0) throw new UserError(`runcRoot ${root} was replaced while it was being made`, { field: 'runcRoot' });
      fchownSync(fd, user.uid, user.gid);
    } finally {
      closeSync(fd);
    }
    return;
  }
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new UserError(`runcRoot ${root} is ${st.isSymbolicLink() ? 'a symlink' : 'not a folder'}`, {
      field: 'runcRoot',
      hint: `give rootless mode a real folder of its own: --runc-root /run/user/${user.uid}/runc (or any path that does not exist yet)`,
    });
  }
  if (st.uid !== user.uid) {
    throw new UserError(`runcRoot ${root} belongs to uid ${st.uid}, but rootless runc runs as ${user.name} (uid ${user.uid})`, {
      field: 'runcRoot',
      hint: `give rootless mode its own runc state folder: --runc-root /run/user/${user.uid}/runc (or any path that does not exist yet)`,
    });
  }
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
