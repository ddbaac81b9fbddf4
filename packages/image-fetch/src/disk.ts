import { statfsSync } from 'node:fs';

/**
 * Whether the filesystem holding `dir` is out of room. A tool that runs out of space does not always say so:
 * umoci's gzip reader can die first (exit 2 and a Go stack) when the write behind it fails. So a failed
 * write-heavy command is judged by the filesystem too, read right after the failure and before its partial
 * output is removed: fewer than MIN_FREE bytes, or no inode, left. No image's tree fits in that much.
 */
export const MIN_FREE = 2 * 1024 * 1024;

export interface Room {
  /** bytes a root process may still write there */
  freeBytes: number;
  freeInodes: number;
  full: boolean;
}

export function roomAt(dir: string): Room | undefined {
  try {
    const s = statfsSync(dir);
    const freeBytes = s.bfree * s.bsize;
    // a filesystem without inode accounting reports files 0
    const full = freeBytes < MIN_FREE || (s.files > 0 && s.ffree === 0);
    return { freeBytes, freeInodes: s.ffree, full };
  } catch {
    return undefined;
  }
}

/** "1.2 MiB free" style, for messages. */
export function formatFree(r: Room): string {
  const kib = r.freeBytes / 1024;
  return `${kib >= 1024 ? `${(kib / 1024).toFixed(1)} MiB` : `${Math.round(kib)} KiB`} free${r.freeInodes === 0 ? ', no inode left' : ''}`;
}
