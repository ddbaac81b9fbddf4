import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config/schema.js';
import { UserError } from './errors.js';
import { runcArgv } from './host/runc.js';
import { rootOwnedDir } from './safe-fs.js';
import type { RootlessUser } from './states.js';

/** Looks a user up in /etc/passwd by name or uid. */
export function lookupUser(nameOrUid: string, passwdFile = '/etc/passwd'): RootlessUser | undefined {
  let text = '';
  try {
    text = readFileSync(passwdFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [name, , uid, gid, , home] = line.split(':');
    if (!name || uid === undefined || gid === undefined) continue;
    if (name === nameOrUid || uid === nameOrUid) return { name, uid: Number(uid), gid: Number(gid), home: home ?? '/' };
  }
  return undefined;
}

/** The user rootless mode runs runc as: rootlessUser, else the user who ran sudo. Never root. */
export function rootlessUser(config: Config, env: NodeJS.ProcessEnv = process.env): RootlessUser {
  const wanted = config.rootlessUser || env.SUDO_USER || '';
  if (wanted === '') {
    throw new UserError('rootless mode needs an unprivileged user to run runc as', {
      field: 'rootlessUser',
      hint: 'pass --rootless-user <name> (or run through sudo, which names you in SUDO_USER)',
    });
  }
  const user = lookupUser(wanted);
  if (!user) {
    throw new UserError(`rootlessUser "${wanted}" is not a user on this host`, {
      field: 'rootlessUser',
      hint: 'create it (useradd --system <name>) or name an existing user with --rootless-user',
    });
  }
  if (user.uid === 0) {
    throw new UserError(`rootlessUser "${wanted}" is root, which is not rootless`, {
      field: 'rootlessUser',
      hint: 'name an unprivileged user with --rootless-user',
    });
  }
  return user;
}

/**
 * Where a rootless instance keeps its rootfs and bundle: beside the state folder (root's alone, 0700), in a
 * folder root owns and the user's group may enter (0750), so runc running as the user reaches them but the
 * user cannot add, swap or remove anything in them. Only the unpacked rootfs inside belongs to the user.
 */
export function rootlessDir(config: Config, id = config.id): string {
  return path.join(`${config.stateDir}-rootless`, id);
}

/** rootlessDir made (or checked) as described there: `<state-dir>-rootless` root's 0711, the instance's folder root:<gid> 0750. */
export function makeRootlessDir(config: Config, user: RootlessUser): string {
  const dir = rootlessDir(config);
  const parent = path.dirname(dir);
  mkdirSync(path.dirname(parent), { recursive: true });
  rootOwnedDir(parent, 0o711);
  rootOwnedDir(dir, 0o750, user.gid);
  return dir;
}

/** The owner of `file` as a user (named from /etc/passwd when it is there), or undefined when root owns it or it is absent. */
export function ownerOf(file: string): RootlessUser | undefined {
  try {
    const st = lstatSync(file);
    if (st.uid === 0) return undefined;
    return lookupUser(String(st.uid)) ?? { name: `uid ${st.uid}`, uid: st.uid, gid: st.gid, home: '/' };
  } catch {
    return undefined;
  }
}

/** The user whose runc holds the instance's containers: the one recorded in state first, else the config's (root mode: none). */
export function runcUserOf(config: Config, recorded?: RootlessUser): RootlessUser | undefined {
  if (recorded) return recorded;
  return config.rootless ? rootlessUser(config) : undefined;
}

/**
 * argv of `runc --root <runcRoot> <args>`, run as the rootless user when there is one: its state folder is
 * the user's, so root running runc there would act on whatever the user wrote into it (a state.json naming
 * any pid to kill, any namespace to join).
 */
export function runcCommand(config: Config, user: RootlessUser | undefined, ...args: string[]): [string, string[]] {
  return runcArgv(config.runcRoot, user, ...args);
}
