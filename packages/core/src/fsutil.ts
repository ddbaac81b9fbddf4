import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fchownSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * Writes a file so that a crash leaves either the old content or the new, never a torn file. `owner` is set
 * on the temporary file's descriptor before the rename, so the name never points at a file with the wrong owner.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600, owner?: { uid: number; gid: number }): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeThenRename(file, data, mode, { owner, durable: true });
}

/**
 * A temporary file beside `file`, written (and, when durable, fsynced with the rename's directory entry), then
 * renamed over it: a reader sees the old content or the new, never a torn file. The temporary file goes on failure.
 */
function writeThenRename(
  file: string,
  data: string | Uint8Array,
  mode: number,
  opts: { owner?: { uid: number; gid: number } | undefined; durable: boolean },
): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (opts.owner) fchownSync(fd, opts.owner.uid, opts.owner.gid);
    if (opts.durable) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (!opts.durable) return;
  // the rename is durable only once the directory entry is on disk
  try {
    const dfd = openSync(dir, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    /* some filesystems refuse fsync on a directory; the rename is still atomic */
  }
}

/** The folder and those of its parents that do not exist yet, outermost first: what creating it would add. */
export function missingDirs(dir: string): string[] {
  const out: string[] = [];
  let d = path.resolve(dir);
  while (!existsSync(d)) {
    out.unshift(d);
    const parent = path.dirname(d);
    if (parent === d) break;
    d = parent;
  }
  return out;
}

/**
 * Replaces a file whole (temporary file, rename), without fsync: a reader never sees a torn file, but a power cut
 * may lose the new content. For what no later run reads back and the next run writes again (the report and its
 * picture); what another run reads back goes through writeFileAtomic. The folder must exist.
 */
export function replaceFile(file: string, data: string | Uint8Array, mode = 0o600): void {
  writeThenRename(file, data, mode, { durable: false });
}
