import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LockBusyError, LockFileError, lockFile, lockHelperPid, lockHolders, startLockHelper } from '../src/index.js';

const INDEX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.js');
const roots: string[] = [];
process.on('exit', () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tmp(): string {
  const r = mkdtempSync(path.join(os.tmpdir(), 'flock-test-'));
  roots.push(r);
  return r;
}

async function rejectsWith<E extends Error>(p: Promise<unknown>, cls: new (...a: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, cls, String(e));
    return e as E;
  }
  assert.unreachable(`expected ${cls.name}`);
  throw new Error('unreachable');
}

/**
 * Another process that takes a lock and holds it until killed (or told on stdin); resolves once it holds.
 * It prints "held" when it has the lock.
 */
function holder(file: string, mode: 'shared' | 'exclusive' = 'exclusive'): Promise<ChildProcess> {
  const code = `import { lockFile } from ${JSON.stringify(INDEX)};
await lockFile(${JSON.stringify(file)}, { mode: ${JSON.stringify(mode)}, waitMs: 30000 });
process.stdout.write('held\\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('held')) resolve(child);
    });
    child.on('exit', (c) => reject(new Error(`holder exited ${c}`)));
  });
}
const exited = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.on('exit', r)));

test('exclusive excludes, shared shares, and a refusal names the holder (this process) at once with waitMs 0', async () => {
  const file = path.join(tmp(), 'locks', 'a.lock');
  const a = await lockFile(file);
  assert.ok(existsSync(file), 'the folder and the file are made');
  const e = await rejectsWith(lockFile(file, { waitMs: 0 }), LockBusyError);
  assert.equal(e.holders, [process.pid]);
  assert.match(e.message, String(process.pid));
  await rejectsWith(lockFile(file, { mode: 'shared' }), LockBusyError);
  a.releaseSync();
  assert.not.ok(existsSync(file), 'an exclusive lock removes its file on release');

  const s1 = await lockFile(file, { mode: 'shared' });
  const s2 = await lockFile(file, { mode: 'shared' });
  await rejectsWith(lockFile(file), LockBusyError);
  assert.is(await s1.release(), false, 'still held by s2: the file stays');
  assert.ok(existsSync(file));
  assert.is(await s2.release(), true, 'the last shared holder removes the file');
  assert.not.ok(existsSync(file));
});

test('a waiter gets the lock when the holder lets go; another process holding it is named by its pid', async () => {
  const file = path.join(tmp(), 'b.lock');
  const other = await holder(file);
  try {
    const e = await rejectsWith(lockFile(file, { waitMs: 0 }), LockBusyError);
    assert.equal(e.holders, [other.pid], 'the holder is the other Node process, not its helper');
    const waiting = lockFile(file, { waitMs: 30_000 });
    other.stdin?.end();
    const mine = await waiting;
    mine.releaseSync();
  } finally {
    other.kill('SIGKILL');
  }
});

test('the lock dies with its holder: SIGKILL of the holder frees it, the file left behind is taken silently', async () => {
  const file = path.join(tmp(), 'c.lock');
  const other = await holder(file);
  await rejectsWith(lockFile(file), LockBusyError);
  other.kill('SIGKILL');
  await exited(other);
  assert.ok(existsSync(file), 'a killed holder leaves its file');
  const mine = await lockFile(file, { waitMs: 10_000 });
  mine.releaseSync();
});

test('an empty lock file held by another process counts as held; one nobody holds (or an old pid file) is just a file', async () => {
  const root = tmp();
  const file = path.join(root, 'd.lock');
  writeFileSync(file, '');
  const other = await holder(file);
  try {
    assert.is(readFileSync(file, 'utf8'), '', 'still empty while held');
    await rejectsWith(lockFile(file), LockBusyError);
  } finally {
    other.kill('SIGKILL');
  }
  await exited(other);
  const stale = path.join(root, 'e.lock');
  writeFileSync(stale, '999999999');
  const mine = await lockFile(stale);
  mine.releaseSync();
});

test('bad lock paths fail at once with LockFileError naming the path and the fix, never waiting', async () => {
  const root = tmp();
  const dir = path.join(root, 'a-dir.lock');
  mkdirSync(dir);
  let e = await rejectsWith(lockFile(dir, { waitMs: 60_000 }), LockFileError);
  assert.match(e.message, dir);
  assert.match(e.message, /directory/);
  assert.match(e.fix, /remove it/);

  const fifo = path.join(root, 'fifo.lock');
  assert.is(spawnSync('mkfifo', [fifo]).status, 0);
  e = await rejectsWith(lockFile(fifo, { waitMs: 60_000 }), LockFileError);
  assert.match(e.message, /FIFO/);

  const target = path.join(root, 'target');
  writeFileSync(target, 'keep');
  const link = path.join(root, 'link.lock');
  symlinkSync(target, link);
  e = await rejectsWith(lockFile(link, { waitMs: 60_000 }), LockFileError);
  assert.match(e.message, /symbolic link/);
  assert.is(readFileSync(target, 'utf8'), 'keep', 'the link target is untouched');

  const file = path.join(root, 'plain');
  writeFileSync(file, '');
  e = await rejectsWith(lockFile(path.join(file, 'x.lock')), LockFileError);
  assert.match(e.message, /not a directory|cannot be created/);
});

test('a lock folder on a read-only file system: a clear error at once (root: a read-only tmpfs)', async () => {
  if (process.getuid?.() !== 0) throw new Error('this test needs root (mount)');
  const ro = path.join(tmp(), 'ro');
  mkdirSync(ro);
  assert.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]).status, 0, 'mount a read-only tmpfs');
  try {
    const e = await rejectsWith(lockFile(path.join(ro, 'locks', 'x.lock'), { waitMs: 60_000 }), LockFileError);
    assert.is(e.code, 'EROFS');
    assert.match(e.message, /read-only/);
    const e2 = await rejectsWith(lockFile(path.join(ro, 'x.lock'), { waitMs: 60_000 }), LockFileError);
    assert.match(e2.message, /read-only/);
  } finally {
    spawnSync('umount', [ro]);
  }
});

// Each racer takes the lock, logs enter/exit (monotonic clock, comparable across processes), holds it a
// little, lets go; it also reports the CPU time it and its helper used while waiting, from /proc.
const RACER = `import { readFileSync, appendFileSync } from 'node:fs';
import { lockFile, lockHelperPid } from ${JSON.stringify(INDEX)};
const [file, log, mode, holdMs] = process.argv.slice(1);
const ticks = (pid) => { const f = readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
const t0 = performance.now(); const c0 = ticks(process.pid);
const held = await lockFile(file, { mode, waitMs: 120000 });
const enter = process.hrtime.bigint();
const waitedMs = performance.now() - t0; const cpuTicks = ticks(process.pid) - c0 + ticks(lockHelperPid());
await new Promise((r) => setTimeout(r, Number(holdMs)));
const exit = process.hrtime.bigint();
appendFileSync(log, JSON.stringify({ pid: process.pid, mode, enter: String(enter), exit: String(exit), waitedMs, cpuTicks }) + '\\n');
if (mode === 'exclusive') held.releaseSync(); else await held.release();`;

interface Entry {
  pid: number;
  mode: string;
  enter: string;
  exit: string;
  waitedMs: number;
  cpuTicks: number;
}
async function race(file: string, modes: string[], holdMs: number): Promise<Entry[]> {
  const log = path.join(path.dirname(file), 'race.log');
  const kids = modes.map(
    (mode) =>
      new Promise<void>((resolve, reject) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', RACER, file, log, mode, String(holdMs)], { stdio: 'inherit' });
        c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`racer exited ${code}`))));
      }),
  );
  await Promise.all(kids);
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Entry);
}

test('22 processes race for one exclusive lock: one holder at a time, every one gets it, no waiter burns CPU', async () => {
  const file = path.join(tmp(), 'race', 'x.lock');
  const log = await race(file, Array(22).fill('exclusive'), 40);
  assert.is(log.length, 22, 'every racer got the lock');
  const byEnter = [...log].sort((a, b) => (BigInt(a.enter) < BigInt(b.enter) ? -1 : 1));
  for (let i = 1; i < byEnter.length; i++) {
    const prev = byEnter[i - 1] as Entry;
    const cur = byEnter[i] as Entry;
    assert.ok(BigInt(cur.enter) >= BigInt(prev.exit), `process ${cur.pid} entered before ${prev.pid} left`);
  }
  // a waiter that spun would use about as much CPU as it waited; these poll a few times a second at most
  const hz = 100; // USER_HZ on Linux
  for (const e of log) {
    const cpuMs = (e.cpuTicks * 1000) / hz;
    assert.ok(cpuMs <= 0.25 * e.waitedMs + 150, `process ${e.pid} used ${cpuMs} ms CPU while waiting ${e.waitedMs.toFixed(0)} ms`);
  }
  assert.not.ok(existsSync(file), 'the last holder removed the file');
});

test('shared and exclusive holders mixed: an exclusive holder is always alone, shared ones may overlap', async () => {
  const file = path.join(tmp(), 'mixed', 'x.lock');
  const modes = Array.from({ length: 20 }, (_, i) => (i % 4 === 0 ? 'exclusive' : 'shared'));
  const log = await race(file, modes, 30);
  assert.is(log.length, 20);
  for (const x of log.filter((e) => e.mode === 'exclusive')) {
    for (const o of log) {
      if (o === x) continue;
      const overlap = BigInt(o.enter) < BigInt(x.exit) && BigInt(x.enter) < BigInt(o.exit);
      assert.not.ok(overlap, `exclusive ${x.pid} overlapped ${o.mode} ${o.pid}`);
    }
  }
  assert.not.ok(existsSync(file));
});

test('startLockHelper starts the helper the next lock uses; an idle helper keeps no process alive', async () => {
  // in a process of its own: the helper is one per process
  const code = `import { lockFile, lockHelperPid, startLockHelper } from ${JSON.stringify(INDEX)};
startLockHelper();
const early = lockHelperPid();
startLockHelper();
const held = await lockFile(process.argv[1]);
console.log(JSON.stringify({ early, again: lockHelperPid() }));
held.releaseSync();`;
  const dir = tmp();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code, path.join(dir, 'x.lock')], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { early: number | undefined; again: number | undefined };
  assert.type(out.early, 'number');
  assert.is(out.again, out.early, 'one helper, started early, used by the lock');
  // started and never used: the process still ends at once (exit 0, not killed by the timeout)
  const idle = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `import { startLockHelper } from ${JSON.stringify(INDEX)}; startLockHelper();`],
    {
      timeout: 30_000,
    },
  );
  assert.is(idle.status, 0);
  assert.is(idle.signal, null);
  startLockHelper();
  assert.type(lockHelperPid(), 'number', 'in this process too');
});

test('lockHolders is empty for a free or missing file', async () => {
  const file = path.join(tmp(), 'free.lock');
  assert.equal(lockHolders(file), []);
  writeFileSync(file, '');
  assert.equal(lockHolders(file), []);
  const l = await lockFile(file);
  assert.equal(lockHolders(file), [process.pid]);
  assert.ok(lockHelperPid());
  l.releaseSync();
});

test.run();
