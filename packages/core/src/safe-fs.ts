import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  rmdirSync,
  rmSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';
import type { Exec } from './exec.js';
import type { RootlessUser } from './states.js';

/**
 * Root never follows a path a less trusted user controls. These helpers are how: folders root writes into
 * are made (or checked) as root's own in a parent nobody else can write, files are opened with O_NOFOLLOW,
 * a path inside an image is resolved one component at a time from an open folder (openat semantics), and a
 * tree the rootless user owns is removed by that user, never by root walking it.
 */

const { O_RDONLY, O_WRONLY, O_CREAT, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

/**
 * `name` inside the folder open as `dirFd`, for openSync/lstatSync/readlinkSync: the kernel resolves
 * /proc/self/fd/N to the open folder itself, so the lookup is relative to it, as openat(2) would be. Node has
 * no openat; this is the same walk. `name` must be one component.
 */
export function atPath(dirFd: number, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new Error(`not a single path component: "${name}"`);
  return `/proc/self/fd/${dirFd}/${name}`;
}

/** True when a folder's mode lets someone other than its owner add, remove or rename entries (sticky folders excepted). */
function othersCanWrite(st: Stats): boolean {
  return (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0;
}

/**
 * Makes `dir` (one level: its parent must exist) as root's, or checks the one there: a real folder (not a
 * link), owned by root, in a parent only root can change. Then sets its group and mode through a descriptor
 * opened without following links. A folder that fails the checks is refused, not taken over: someone else
 * made it, and root writing into it would act on their choices.
 */
export function rootOwnedDir(dir: string, mode: number, gid = 0): void {
  const parent = path.dirname(dir);
  const pst = lstatSync(parent);
  if (!pst.isDirectory() || pst.uid !== 0 || othersCanWrite(pst)) {
    throw new UserError(
      `${parent} is not a folder only root can change (owner uid ${pst.uid}, mode ${(pst.mode % 0o10000).toString(8)}${pst.isSymbolicLink() ? ', a symlink' : ''})`,
      {
        hint: 'root keeps files there that another user must not be able to swap: use a --state-dir whose parents belong to root and are not writable by others',
      },
    );
  }
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  let fd: number;
  try {
    fd = openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      const link = lstatSync(dir).isSymbolicLink();
      throw new UserError(`${dir} is ${link ? 'a symlink' : 'not a folder'}, where cni-demo keeps a folder of root's`, {
        hint: `someone else put it there: check it, remove it, and run again`,
      });
    }
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (st.uid !== 0) {
      throw new UserError(`${dir} belongs to uid ${st.uid}, not root`, {
        hint: 'it was not made by cni-demo as root (or by an older version, which gave it to the rootless user): check what it holds, remove it, and run again',
      });
    }
    fchownSync(fd, 0, gid);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a whole file without following a link at its name, refusing anything but a regular file there (a
 * FIFO would block, a device would be written to). Mode and owner are set through the descriptor.
 */
export function writeFileNoFollow(file: string, data: string | Uint8Array, mode = 0o600, owner?: { uid: number; gid: number }): void {
  const fd = openRegularNoFollow(file, O_WRONLY | O_CREAT, mode);
  try {
    // truncated only once it is known to be a regular file: O_TRUNC would cut whatever was there first
    ftruncateSync(fd, 0);
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    writeSync(fd, buf, 0, buf.length, 0);
    fchmodSync(fd, mode);
    if (owner) fchownSync(fd, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
}

/** Opens a regular file without following a link at its name (O_NONBLOCK, so a FIFO cannot stall us); the caller closes it. */
export function openRegularNoFollow(file: string, flags: number = O_WRONLY, mode = 0o600): number {
  const fd = openSync(file, flags | O_NOFOLLOW | O_NONBLOCK, mode);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new Error(`${file} is not a regular file`);
  }
  return fd;
}

const MAX_LINKS = 40;

/**
 * Reads `rel` inside the tree at `root` as if `root` were `/` (chroot semantics, as container runtimes
 * resolve image paths): every component is looked up from the folder opened before it, an absolute symlink
 * restarts at `root`, `..` stops at `root`, and nothing is opened through a link the kernel would follow. So
 * an image whose `etc` is a link to `/etc` reads its own `/etc` (here: a loop, so nothing), never the host's,
 * even when the tree's owner swaps entries while we read. Returns undefined when the file is not there or
 * is not a regular file; at most `maxBytes` are read.
 */
export function readFileInRoot(root: string, rel: string, maxBytes = 1 << 20): string | undefined {
  const stack: number[] = [openSync(root, O_RDONLY | O_DIRECTORY)];
  let links = 0;
  const pending = rel.split('/').filter((c) => c !== '' && c !== '.');
  try {
    while (pending.length > 0) {
      const name = pending.shift() as string;
      const here = stack.at(-1) as number;
      if (name === '..') {
        if (stack.length > 1) closeSync(stack.pop() as number);
        continue;
      }
      let st: Stats;
      try {
        st = lstatSync(atPath(here, name));
      } catch {
        return undefined;
      }
      if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) return undefined;
        const target = readlinkSync(atPath(here, name));
        if (target.startsWith('/')) while (stack.length > 1) closeSync(stack.pop() as number);
        pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
        continue;
      }
      if (pending.length === 0) {
        if (!st.isFile()) return undefined;
        let fd: number;
        try {
          fd = openRegularNoFollow(atPath(here, name), O_RDONLY);
        } catch {
          return undefined;
        }
        try {
          const buf = Buffer.alloc(Math.min(maxBytes, fstatSync(fd).size));
          let got = 0;
          while (got < buf.length) {
            const n = readSyncAt(fd, buf, got);
            if (n === 0) break;
            got += n;
          }
          return buf.subarray(0, got).toString('utf8');
        } finally {
          closeSync(fd);
        }
      }
      if (!st.isDirectory()) return undefined;
      try {
        // O_NOFOLLOW: if the entry became a link since the lstat, this fails instead of leaving the tree
        stack.push(openSync(atPath(here, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
      } catch {
        return undefined;
      }
    }
    return undefined;
  } finally {
    for (const fd of stack) closeSync(fd);
  }
}

function readSyncAt(fd: number, buf: Buffer, offset: number): number {
  return readSync(fd, buf, offset, buf.length - offset, offset);
}

/**
 * Removes a tree that may hold the rootless user's files without root ever walking them: what the user owns
 * is removed by the user (`setpriv` + `rm`, after making its own folders writable to itself), so a link the
 * user plants can only make rm act with the user's own rights. Root then removes only the folders and files
 * it owns, which nobody else can change. Anything owned by a third party is left, and named in the error.
 * Without a user (root mode) every file is root's and the tree goes as with `rm -rf`.
 */
export async function removeTree(exec: Exec, dir: string, user: RootlessUser | undefined): Promise<void> {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch {
    return;
  }
  if (!st.isDirectory()) {
    unlinkSync(dir);
    return;
  }
  if (user && st.uid === user.uid) {
    await exec(...asUser(user, 'chmod', ['-R', 'u+rwX', '--', dir]), { allowFail: true });
    await exec(...asUser(user, 'rm', ['-rf', '--one-file-system', '--', dir]), { allowFail: true });
    // the folder itself stays when its parent is root's: it is empty now, and root may remove an empty folder
    try {
      rmdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      throw new UserError(`${dir} (owned by ${user.name}) could not be emptied as ${user.name}: ${code}`, {
        hint: `look at what is left in it (ls -la ${dir}); remove it by hand once you know what it is`,
      });
    }
    return;
  }
  if (st.uid !== 0) {
    throw new UserError(`${dir} belongs to uid ${st.uid}, neither root nor the rootless user: left in place`, {
      hint: `check what it is and remove it by hand (rm -r ${dir})`,
    });
  }
  if (!user) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const name of readdirSync(dir)) await removeTree(exec, path.join(dir, name), user);
  rmdirSync(dir);
}

/** argv running `cmd args` as the user: setpriv, no shell, no login, no supplementary groups, same environment. */
export function asUser(user: RootlessUser | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  if (!user) return [cmd, [...args]];
  return ['setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', '--', cmd, ...args]];
}
