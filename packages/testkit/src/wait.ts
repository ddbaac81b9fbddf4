import { readdirSync, readFileSync, statSync } from 'node:fs';

/**
 * Waits for something a test cannot await directly (a file appearing, a process gone, a lock waited on),
 * checking every 10 ms. The bound is not an assertion about speed: it only turns a product that never gets
 * there into a failure naming `what` instead of a hang, so it is generous (two minutes by default).
 */
export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, limitMs = 120_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`gave up after ${limitMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, …]; undefined once it is gone. */
function stat(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Gone, or a zombie nobody reaped yet (it runs nothing and holds nothing). */
export function processGone(pid: number): boolean {
  const f = stat(pid);
  return !f || f[0] === 'Z';
}

/** Every live process below `pid` (children, their children, …). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = stat(Number(d));
    if (f && f[0] !== 'Z') parent.set(Number(d), Number(f[1]));
  }
  const out: number[] = [];
  const below = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, pp] of parent) {
      if (!below.has(p) && below.has(pp)) {
        below.add(p);
        out.push(p);
        grew = true;
      }
    }
  }
  return out;
}

/** The pids the kernel lists as holding a file lock on `file` (matched by its inode); none when it does not exist. */
export function lockHolders(file: string): number[] {
  let ino: number;
  try {
    ino = statSync(file).ino;
  } catch {
    return [];
  }
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !/ -> /.test(l))
    .map((l) => l.split(/\s+/))
    .filter((f) => Number((f[5] ?? '').split(':')[2]) === ino || Number((f[6] ?? '').split(':')[2]) === ino)
    .map((f) => Number(f[4]))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** The command name of a process (/proc/<pid>/comm); undefined once it is gone. */
function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Has `pid` reached its first lock? @cni-demo/flock starts one perl helper per process at its first lock call
 * and tries a busy lock again and again without blocking (so the kernel lists no waiter); the helper appearing
 * below the process is the event "it is now taking locks". A process that cannot get past a lock the test
 * holds is then waiting for it.
 */
export function takesLocks(pid: number): boolean {
  return descendants(pid).some((p) => comm(p) === 'perl');
}
