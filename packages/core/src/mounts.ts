import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';

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

/** True when `file` is a mount point. */
export function isMountPoint(file: string): boolean {
  const real = realMountPath(file);
  return mountPoints().includes(real);
}
