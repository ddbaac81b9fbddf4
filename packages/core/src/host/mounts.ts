import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

/** Mounts and netns pins: what /proc says is mounted, and which network namespace a pin holds. */

/** Mount points from this process's mountinfo, as real paths (/var/run/netns/x is listed as /run/netns/x). */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter(Boolean);
}

/** The path with its folder resolved through symlinks, as mountinfo names it; the path itself when that fails. */
export function realMountPath(file: string): string {
  try {
    return path.join(realpathSync(path.dirname(file)), path.basename(file));
  } catch {
    return file;
  }
}

/**
 * The filesystem type of the topmost mount at `mountPoint` (a real path, as realMountPath gives), or
 * undefined when nothing is mounted there: `nsfs` for a bind-mounted namespace.
 */
export function mountFsType(mountPoint: string): string | undefined {
  let fs: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if ((f[4] ?? '').replace(/\\040/g, ' ') !== mountPoint) continue;
    // the optional fields end at "-"; the type follows it
    const dash = f.indexOf('-', 6);
    if (dash > 0) fs = f[dash + 1];
  }
  return fs;
}

/** True when `file` is a mount point. */
export function isMountPoint(file: string): boolean {
  return mountPoints().includes(realMountPath(file));
}

/** True when the pin at `file` is the same network namespace as the process `pid` is in. */
export function pinMatches(file: string, pid: number): boolean {
  try {
    if (!existsSync(file) || !isMountPoint(file)) return false;
    const a = statSync(file);
    const b = statSync(`/proc/${pid}/ns/net`);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/**
 * Whether interface `ifname` is in the netns pinned at `pin`, read from /proc/<pid>/net/dev without a process:
 * only when `pid` is in that netns (checked by the namespace's inode, so a reused pid cannot fool it);
 * undefined when that cannot be told this way.
 */
export function linkViaProc(pid: number, pin: string, ifname: string): boolean | undefined {
  try {
    const ns = statSync(`/proc/${pid}/ns/net`);
    const pinned = statSync(pin);
    if (ns.ino !== pinned.ino || ns.dev !== pinned.dev) return undefined;
    // "  eth0: <counters>": an interface name holds no ':' and no blank
    return readFileSync(`/proc/${pid}/net/dev`, 'utf8')
      .split('\n')
      .some((l) => l.trimStart().startsWith(`${ifname}:`));
  } catch {
    return undefined;
  }
}
