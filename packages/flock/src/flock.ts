import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

/**
 * File locks that die with their holder: flock(2) on a lock file, shared or exclusive.
 *
 * Node has no flock. Spawning flock(1) per lock costs a fork of the whole Node process (~4 ms on a busy
 * 2-core host, measured); a native addon needs a compiler and Node's headers at install. So each process
 * that locks starts ONE small perl helper (perl-base is Essential on Debian and Ubuntu) on first use, which
 * opens the lock files, flocks them without blocking and keeps the descriptors: a lock/unlock round trip
 * over its pipes costs ~0.05 ms. The helper is the holder in the kernel's eyes; it exits when its stdin
 * closes, i.e. when this process exits or dies (even by SIGKILL), so every lock dies with its holder.
 *
 * Waiting happens here, not in the helper: a busy lock is tried again after 1, 2, 4 … ms, at most 50 ms
 * apart, until `waitMs` runs out (0: one try). No process spins, and a wait never outlives its bound.
 *
 * Lock files are removed when their last holder lets go, so nothing is left behind when nobody holds a
 * lock. That is safe because a waiter checks, once it has the lock, that the path still names the file it
 * locked (same device and inode); if the last holder unlinked it meanwhile, it locks the new one instead.
 * Nobody ever removes a lock file it does not hold, whatever it believes about the holder: there is no
 * "stale lock" to break, since a dead holder's lock is already gone.
 */

export type LockMode = 'shared' | 'exclusive';

export interface LockOptions {
  /** default 'exclusive' */
  mode?: LockMode;
  /** how long to wait for a busy lock, in ms; 0 (default) tries once */
  waitMs?: number;
  /** create the lock file's folder (mode 0700) when it is missing; default true */
  createDir?: boolean;
}

export interface HeldLock {
  readonly file: string;
  readonly mode: LockMode;
  /**
   * Lets go. The file is removed when nobody else holds it (always, for an exclusive lock); the result says
   * whether it was, so a caller can tidy the folder too.
   */
  release(): Promise<boolean>;
  /**
   * Lets go of an exclusive lock at once: the file is gone when this returns (a caller may remove the
   * folder right after). A shared lock cannot know synchronously whether others hold it: it keeps its file.
   */
  releaseSync(): void;
}

/** The lock is held by someone else and stayed so for the whole wait. */
export class LockBusyError extends Error {
  override name = 'LockBusyError';
  constructor(
    readonly file: string,
    /** processes holding it (from /proc/locks; this helper's parent for locks taken through a helper) */
    readonly holders: number[],
    readonly waitedMs: number,
  ) {
    super(
      `${file} is locked by ${holders.length > 0 ? `process ${holders.join(', ')}` : 'another process'}${waitedMs > 0 ? ` (waited ${waitedMs} ms)` : ''}`,
    );
  }
}

/** The lock cannot be taken at all: the path is not a regular file, the folder cannot be made, … */
export class LockFileError extends Error {
  override name = 'LockFileError';
  constructor(
    readonly file: string,
    /** errno name (ELOOP, EISDIR, EROFS …), or ENOTREG for a FIFO, socket or device */
    readonly code: string,
    readonly why: string,
    readonly fix: string,
  ) {
    super(`lock file ${file}: ${why}; ${fix}`);
  }
}

// The helper: one request per line, "L <id> <s|x> <path>" locks without blocking and answers
// "<id> K <dev> <ino>" (held), "<id> B" (busy), "<id> N" (not a regular file) or "<id> E <errno>";
// "R <id>" lets go, first removing the file if nobody else holds it, and answers "<id> K <1|0>";
// "U <id>" lets go without an answer. Signals that stop a terminal's job are ignored: the helper ends when
// its stdin does, i.e. with its parent.
const SCRIPT = String.raw`
use strict; use warnings;
use Fcntl qw(:flock O_RDWR O_CREAT O_NOFOLLOW O_NONBLOCK);
use Errno qw(EWOULDBLOCK);
$SIG{$_} = 'IGNORE' for qw(INT TERM HUP QUIT PIPE TSTP);
$| = 1;
my %held;
while (my $line = <STDIN>) {
  chomp $line;
  my ($op, $id, $mode, $path) = split / /, $line, 4;
  if ($op eq 'L') {
    my $reply = 'B';
    for (1 .. 20) {
      my $fh;
      if (!sysopen($fh, $path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0600)) { $reply = 'E ' . ($! + 0); last; }
      my @st = stat($fh);
      if (!-f _) { close $fh; $reply = 'N'; last; }
      if (!flock($fh, ($mode eq 'x' ? LOCK_EX : LOCK_SH) | LOCK_NB)) {
        my $e = $! + 0;
        close $fh;
        $reply = $e == EWOULDBLOCK ? 'B' : "E $e";
        last;
      }
      my @now = lstat($path);
      if (@now && $now[0] == $st[0] && $now[1] == $st[1]) { $held{$id} = [$fh, $path, $st[0], $st[1]]; $reply = "K $st[0] $st[1]"; last; }
      close $fh;
    }
    print "$id $reply\n";
  } elsif ($op eq 'R' || $op eq 'U') {
    my $h = delete $held{$id};
    my $gone = 0;
    if ($h && $op eq 'R' && flock($h->[0], LOCK_EX | LOCK_NB)) {
      my @now = lstat($h->[1]);
      $gone = 1 if @now && $now[0] == $h->[2] && $now[1] == $h->[3] && unlink($h->[1]);
    }
    close $h->[0] if $h;
    print "$id K $gone\n" if $op eq 'R';
  }
}
`;
/** in the helper's argv, so /proc tells a helper from any other process holding a flock */
const MARK = 'cni-demo-flock-helper';

type HelperProcess = ChildProcessByStdio<Writable, Readable, Readable>;

class Helper {
  private readonly child: HelperProcess;
  private readonly pending = new Map<number, { ok: (words: string[]) => void; fail: (e: Error) => void }>();
  private buf = '';
  private stderr = '';
  private nextId = 1;
  dead: Error | undefined;
  /** ids of locks this helper holds: they are lost if it dies */
  readonly held = new Set<number>();

  constructor() {
    // perl reads PERL5OPT, PERL5LIB …: none of the caller's environment reaches the helper, only PATH
    this.child = spawn('perl', ['-e', SCRIPT, MARK], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    });
    this.child.on('error', (e: NodeJS.ErrnoException) => {
      this.die(
        e.code === 'ENOENT'
          ? new Error('file locks need perl, which is not on PATH (Debian/Ubuntu: apt-get install perl-base)')
          : new Error(`the file-lock helper (perl) could not start: ${e.message}`),
      );
    });
    this.child.on('exit', (code, signal) => {
      this.die(
        new Error(
          `the file-lock helper (perl, pid ${this.child.pid}) exited (${signal ?? `status ${code}`})${this.stderr ? `: ${this.stderr.trim()}` : ''}`,
        ),
      );
    });
    this.child.stdin.on('error', () => {
      /* a helper that died closes its stdin: reported through 'exit' */
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => this.onData(d));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-2000);
    });
    this.idle();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private onData(d: string): void {
    this.buf += d;
    for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
      const words = this.buf.slice(0, i).split(' ');
      this.buf = this.buf.slice(i + 1);
      const p = this.pending.get(Number(words[0]));
      if (!p) continue;
      this.pending.delete(Number(words[0]));
      p.ok(words.slice(1));
    }
    if (this.pending.size === 0) this.idle();
  }

  private die(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    for (const p of this.pending.values()) p.fail(e);
    this.pending.clear();
    if (helper === this) helper = undefined;
  }

  // while nothing is asked the helper must not keep this process alive; while an answer is awaited it must
  private idle(): void {
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
  }
  private busy(): void {
    this.child.ref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as unknown as { ref?: () => void }).ref?.();
  }

  newId(): number {
    return this.nextId++;
  }

  ask(id: number, line: string): Promise<string[]> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((ok, fail) => {
      this.pending.set(id, { ok, fail });
      this.busy();
      this.child.stdin.write(`${line}\n`);
    });
  }

  tell(line: string): void {
    if (!this.dead) this.child.stdin.write(`${line}\n`);
  }
}

let helper: Helper | undefined;
function theHelper(): Helper {
  if (!helper || helper.dead) helper = new Helper();
  return helper;
}

/**
 * Starts this process's helper now, if it has none, without taking a lock: a process about to lock (cni-demo up
 * and down) lets perl start on another core while it loads, instead of waiting for it at its first lock. An idle
 * helper keeps no process alive, and one that died is started again at the next lock.
 */
export function startLockHelper(): void {
  theHelper();
}

/** pid of this process's helper, for tests and diagnostics (undefined before the first lock) */
export function lockHelperPid(): number | undefined {
  return helper?.pid;
}

const errnoName = (n: number): string => Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;

function kindOf(file: string): string {
  try {
    const st = lstatSync(file);
    if (st.isDirectory()) return 'a directory';
    if (st.isSymbolicLink()) return 'a symbolic link';
    if (st.isFIFO()) return 'a FIFO';
    if (st.isSocket()) return 'a socket';
    if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  } catch {
    /* vanished */
  }
  return 'not a regular file';
}

function fileError(file: string, code: string): LockFileError {
  const dir = path.dirname(file);
  switch (code) {
    case 'ENOTREG':
    case 'ELOOP':
    case 'EISDIR':
    case 'ENXIO':
    case 'EOPNOTSUPP': {
      const kind = kindOf(file);
      return new LockFileError(
        file,
        code,
        `is ${kind.startsWith('a ') ? kind : 'not a regular file'}, not a lock file`,
        'remove it; a lock file is a regular file or absent',
      );
    }
    case 'EACCES':
    case 'EPERM':
      return new LockFileError(file, code, 'permission denied', `run as root, or make ${dir} writable for this user`);
    case 'EROFS':
      return new LockFileError(file, code, 'the file system is read-only', `give a folder on a writable file system instead of ${dir}`);
    case 'ENOTDIR':
      return new LockFileError(
        file,
        code,
        `its folder ${dir} cannot be created (a file stands where a folder should be)`,
        'remove that file or give another lock folder',
      );
    default:
      return new LockFileError(file, code, `cannot be opened (${code})`, `check ${dir}`);
  }
}

function makeDir(file: string): void {
  const dir = path.dirname(file);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = realMkdirError(dir) ?? (e as NodeJS.ErrnoException).code ?? 'EIO';
    const reason =
      code === 'EROFS'
        ? 'the file system is read-only'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'ENOTDIR' || code === 'EEXIST'
            ? 'a file stands where a folder should be'
            : code;
    throw new LockFileError(
      file,
      code,
      `its folder ${dir} cannot be created (${reason})`,
      'give a lock folder that exists or can be created',
    );
  }
}

/** Node's recursive mkdir reports ENOENT for a read-only parent: make the first missing folder alone to learn why. */
function realMkdirError(dir: string): string | undefined {
  let first = dir;
  while (path.dirname(first) !== first && !existsSync(path.dirname(first))) first = path.dirname(first);
  try {
    mkdirSync(first, { mode: 0o700 });
    rmdirSync(first);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes a lock on `file`. Throws LockBusyError when someone holds it past `waitMs`, LockFileError when the
 * path can never be a lock (not a regular file, a folder that cannot be made) — at once: waiting would not
 * change that.
 */
export async function lockFile(fileIn: string, opts: LockOptions = {}): Promise<HeldLock> {
  const file = path.resolve(fileIn);
  if (/[\n\r]/.test(file)) throw new LockFileError(file, 'EINVAL', 'has a line break in its path', 'use a path without one');
  const mode = opts.mode ?? 'exclusive';
  const waitMs = Math.max(0, opts.waitMs ?? 0);
  const started = Date.now();
  let delay = 1;
  let madeDir = false;
  // a missing folder costs a stat here instead of a failed round trip to the helper
  if (opts.createDir !== false && !existsSync(path.dirname(file))) {
    makeDir(file);
    madeDir = true;
  }
  for (let attempt = 0; ; attempt++) {
    const h = theHelper();
    const id = h.newId();
    const [answer, ...rest] = await h.ask(id, `L ${id} ${mode === 'exclusive' ? 'x' : 's'} ${file}`);
    if (answer === 'K') return held(h, id, file, mode, rest[0] ?? '', rest[1] ?? '');
    if (answer === 'N') throw fileError(file, 'ENOTREG');
    if (answer === 'E') {
      const code = errnoName(Number(rest[0]));
      // a missing folder is made once; one that vanishes again (another process tidied it) is made again
      if (code === 'ENOENT' && opts.createDir !== false && (!madeDir || attempt < 100)) {
        makeDir(file);
        madeDir = true;
        continue;
      }
      throw fileError(file, code);
    }
    const waited = Date.now() - started;
    if (waited >= waitMs) throw new LockBusyError(file, lockHolders(file), waitMs > 0 ? waited : 0);
    await sleep(Math.min(delay, waitMs - waited));
    delay = Math.min(delay * 2, 50);
  }
}

function held(h: Helper, id: number, file: string, mode: LockMode, dev: string, ino: string): HeldLock {
  h.held.add(id);
  let done = false;
  const mine = () => {
    try {
      const st = lstatSync(file, { bigint: true });
      return String(st.dev) === dev && String(st.ino) === ino;
    } catch {
      return false;
    }
  };
  return {
    file,
    mode,
    async release() {
      if (done) return false;
      done = true;
      if (h.dead) return false; // the helper took the lock with it: the file may be someone else's now
      h.held.delete(id);
      if (mode === 'exclusive') {
        if (mine()) unlinkSync(file);
        h.tell(`U ${id}`);
        return true;
      }
      const [, gone] = await h.ask(id, `R ${id}`);
      return gone === '1';
    },
    releaseSync() {
      if (done) return;
      done = true;
      if (h.dead) return;
      h.held.delete(id);
      // exclusive: nobody else can hold this file, so it goes before the lock does; a waiter that locked the
      // unlinked file sees the path changed and locks the new one
      if (mode === 'exclusive' && mine()) unlinkSync(file);
      h.tell(`U ${id}`);
    },
  };
}

/** Removes a lock folder if it is empty; a concurrent locker that finds it gone makes it again. */
export function removeLockDirIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* not empty, gone, or in use: fine */
  }
}

/**
 * Who holds `file`: pids from /proc/locks (flock entries on its device and inode, waiters left out), each
 * lock helper replaced by the process it serves.
 */
export function lockHolders(file: string): number[] {
  let ino: bigint;
  try {
    ino = statSync(file, { bigint: true }).ino;
  } catch {
    return [];
  }
  let text: string;
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return [];
  }
  const pids = new Set<number>();
  for (const line of text.split('\n')) {
    // "12: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF"; a waiter's line has "->" after the number
    const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line);
    if (!m || BigInt(m[2] ?? '0') !== ino) continue;
    pids.add(servedBy(Number(m[1])));
  }
  return [...pids];
}

/** A lock helper's parent, or the pid itself for any other process. */
function servedBy(pid: number): number {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!argv.includes(MARK)) return pid;
    const ppid = /^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return ppid && ppid !== '1' && ppid !== '0' ? Number(ppid) : pid;
  } catch {
    return pid;
  }
}
