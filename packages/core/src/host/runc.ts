import { closeSync, constants, lstatSync, readSync } from 'node:fs';
import path from 'node:path';
import type { Exec } from '../exec.js';
import { asUser, openRegularNoFollow } from '../safe-fs.js';
import type { RootlessUser } from '../states.js';

/** runc's view of a container: its folder under the runc root and what `runc state` says. */
export interface RuncState {
  id: string;
  pid: number;
  status: 'created' | 'running' | 'paused' | 'stopped' | 'creating';
  bundle: string;
}

/** runc's own folder for a container (present, without state.json, when a create was killed midway). */
export const runcDir = (runcRoot: string, id: string) => path.join(runcRoot, id);

/**
 * runc keeps <root>/<id>/state.json for every container it knows: without it there is nothing to ask
 * about, and one process per container is saved on a fresh up or a finished down. Looked at with lstat:
 * in rootless mode the folder is the user's, and a link there is not followed even to look.
 */
export function runcKnows(runcRoot: string, id: string): boolean {
  try {
    return lstatSync(runcDir(runcRoot, id)).isDirectory() && lstatSync(path.join(runcDir(runcRoot, id), 'state.json')).isFile();
  } catch {
    return false;
  }
}

/**
 * argv of `runc --root <runcRoot> <args>`, run as the rootless user when there is one: its state folder is
 * the user's, so root running runc there would act on whatever the user wrote into it (a state.json naming
 * any pid to kill, any namespace to join).
 */
export function runcArgv(runcRoot: string, user: RootlessUser | undefined, ...args: string[]): [string, string[]] {
  return asUser(user, 'runc', ['--root', runcRoot, ...args]);
}

/**
 * What runc says about a container, or undefined when it knows none. Rootless (`user`), runc runs as the
 * user and its answer is the user's word: a claim to check (runc-bundle's pin.ts checks the pid), never
 * taken as is. An answer that is not the expected shape counts as none.
 */
export async function runcState(exec: Exec, runcRoot: string, id: string, user?: RootlessUser): Promise<RuncState | undefined> {
  if (!runcKnows(runcRoot, id)) return undefined;
  const r = await exec(...runcArgv(runcRoot, user, 'state', id), { allowFail: true });
  if (r.exitCode !== 0) return undefined;
  try {
    const s = JSON.parse(r.stdout) as Partial<RuncState>;
    if (typeof s.pid !== 'number' || typeof s.status !== 'string' || typeof s.bundle !== 'string') return undefined;
    return { id, pid: s.pid, status: s.status, bundle: s.bundle };
  } catch {
    return undefined;
  }
}

/**
 * What runc's state.json says of a container, read without starting a process: the bundle it was made from
 * (`config.labels`: `bundle=<path>`) and its init's pid. Root mode only: there the runc root is root's. In
 * rootless mode the file is the user's word, so ask runc as the user instead (runcState). Undefined when runc
 * keeps no readable state for it.
 */
export function runcStateFile(runcRoot: string, id: string): { bundle: string | undefined; pid: number | undefined } | undefined {
  if (!runcKnows(runcRoot, id)) return undefined;
  let fd: number;
  try {
    fd = openRegularNoFollow(path.join(runcDir(runcRoot, id), 'state.json'), constants.O_RDONLY);
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(1 << 20);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
    }
    const st = JSON.parse(buf.subarray(0, n).toString('utf8')) as { config?: { labels?: unknown }; init_process_pid?: unknown };
    const labels = Array.isArray(st.config?.labels) ? (st.config.labels as unknown[]) : [];
    const label = labels.find((l): l is string => typeof l === 'string' && l.startsWith('bundle='));
    const pid = typeof st.init_process_pid === 'number' && st.init_process_pid > 0 ? st.init_process_pid : undefined;
    return { bundle: label?.slice('bundle='.length), pid };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The bundle a container was made from and its init's pid, as runc reports them: read directly in root mode,
 * asked of runc as the user in rootless mode (then a claim: the pid is only used to compare namespaces).
 */
export async function runcOrigin(
  exec: Exec,
  runcRoot: string,
  id: string,
  user?: RootlessUser,
): Promise<{ bundle: string | undefined; pid: number | undefined } | undefined> {
  if (!user) return runcStateFile(runcRoot, id);
  const st = await runcState(exec, runcRoot, id, user);
  return st ? { bundle: st.bundle, pid: st.pid || undefined } : undefined;
}
