import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config/schema.js';
import { UserError } from './errors.js';
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
 * Where a rootless instance keeps its rootfs and bundle: the user must reach them, and the state folder is
 * root's alone (0700), so they live beside it in a folder the user owns.
 */
export function rootlessDir(config: Config, id = config.id): string {
  return path.join(`${config.stateDir}-rootless`, id);
}
