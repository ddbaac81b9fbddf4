// The instance lock (acquireLock / withLock): one holder at a time across processes, no spinning, a dead
// holder's lock gone with it, bad lock paths refused at once, and a folder tidied away by one run while
// another waits is made again.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { acquireLock, UserError } from '../src/index.js';

const INDEX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.js');
const roots: string[] = [];
process.on('exit', () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tmp(): string {
  const r = mkdtempSync(path.join(os.tmpdir(), 'lk-'));
  roots.push(r);
  return r;
}
/** Waits for an event the test cannot await (a file's content); the bound only turns a hang into a failure. */
async function waitUntil(cond: () => boolean, what: string, limitMs = 120_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
async function refused(p: Promise<unknown>, msg: RegExp | string): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, UserError, String(e));
    assert.match((e as Error).message, msg);
    return e as UserError;
  }
  assert.unreachable('expected a UserError');
  throw new Error('unreachable');
}

/** Another process holding the lock until killed; resolves once it holds it. */
function holder(file: string): Promise<ChildProcess> {
  const code = `import { acquireLock } from ${JSON.stringify(INDEX)};
await acquireLock(${JSON.stringify(file)}, { waitMs: 30000 });
process.stdout.write('held\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('held') && resolve(child));
    child.on('exit', (c) => reject(new Error(`holder exited ${c}`)));
  });
}
const exited = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.on('exit', r)));

test('a second holder is refused at once with waitMs 0, naming the holder; a released lock leaves no file', async () => {
  const file = path.join(tmp(), 'x.lock');
  const release = await acquireLock(file);
  await refused(acquireLock(file, { waitMs: 0, what: 'instance x' }), `instance x is in use by process ${process.pid}`);
  release();
  assert.not.ok(existsSync(file));
  (await acquireLock(file))();
});

test('an empty lock file held by another process counts as held; once its holder dies (SIGKILL) the lock is free', async () => {
  const file = path.join(tmp(), 'y.lock');
  writeFileSync(file, '');
  const other = await holder(file);
  try {
    assert.is(readFileSync(file, 'utf8'), '', 'the lock file is empty: the lock is not in its content');
    await refused(acquireLock(file, { what: 'instance y' }), `instance y is in use by process ${other.pid}`);
  } finally {
    other.kill('SIGKILL');
  }
  await exited(other);
  (await acquireLock(file, { waitMs: 5000 }))();
  // a pid file of the old format, naming a process that does not exist: just a file, taken silently
  writeFileSync(file, '999999999');
  (await acquireLock(file))();
});

test('a lock path that is a folder, a symlink, or under a file: refused at once with the fix, even with a long wait', async () => {
  const root = tmp();
  const dir = path.join(root, 'd.lock');
  mkdirSync(dir);
  const e = await refused(acquireLock(dir, { waitMs: 600_000, what: 'instance d' }), /instance d: lock file .*d\.lock is a directory/);
  assert.match(e.hint ?? '', /remove it/);
  writeFileSync(path.join(root, 'target'), 'keep');
  symlinkSync(path.join(root, 'target'), path.join(root, 's.lock'));
  await refused(acquireLock(path.join(root, 's.lock'), { waitMs: 600_000 }), /symbolic link/);
  assert.is(readFileSync(path.join(root, 'target'), 'utf8'), 'keep');
  writeFileSync(path.join(root, 'file'), '');
  await refused(acquireLock(path.join(root, 'file', 'x.lock'), { waitMs: 600_000 }), /cannot be created/);
});

// Each racer: take the lock (waiting up to 2 min), log enter/exit on the monotonic clock, hold it a little,
// let go and remove the folder when it is empty, as the instance lock does with the state root; three
// rounds. It reports the CPU time it and its lock helper used while waiting, from /proc.
const RACER = `import { appendFileSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { acquireLock } from ${JSON.stringify(INDEX)};
import { lockHelperPid } from ${JSON.stringify(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../flock/dist/src/index.js'))};
const [file, log] = process.argv.slice(1);
const ticks = (pid) => { const f = readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
for (let round = 0; round < 3; round++) {
  if (round === 0) appendFileSync(log + '.waiting', process.pid + '\\n');
  const t0 = performance.now(); const c0 = ticks(process.pid); const h0 = lockHelperPid() ? ticks(lockHelperPid()) : 0;
  const release = await acquireLock(file, { waitMs: 120000 });
  const enter = process.hrtime.bigint();
  const waitedMs = performance.now() - t0; const cpuTicks = ticks(process.pid) - c0 + ticks(lockHelperPid()) - h0;
  await new Promise((r) => setTimeout(r, 15));
  const exit = process.hrtime.bigint();
  appendFileSync(log, JSON.stringify({ pid: process.pid, enter: String(enter), exit: String(exit), waitedMs, cpuTicks }) + '\\n');
  release();
  try { rmdirSync(path.dirname(file)); } catch {}
}`;

test('24 processes race for one lock, 3 rounds each, the folder removed whenever empty: one holder at a time, nobody spins, nobody fails', async () => {
  const root = tmp();
  const file = path.join(root, 'state', 'demo.lock');
  const log = path.join(root, 'race.log');
  // a holder that dies while everyone waits: its waiters all see it gone at once, and still take turns
  const first = await holder(file);
  const racers = Array.from(
    { length: 24 },
    () =>
      new Promise<void>((resolve, reject) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', RACER, file, log], { stdio: ['ignore', 'inherit', 'pipe'] });
        let err = '';
        c.stderr.on('data', (d) => (err += d));
        c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`racer exited ${code}: ${err}`))));
      }),
  );
  // every racer is about to wait (it noted so right before its first acquireLock) while the first holds on
  await waitUntil(
    () => existsSync(`${log}.waiting`) && readFileSync(`${log}.waiting`, 'utf8').trim().split('\n').length === 24,
    'every racer to start waiting',
  );
  first.kill('SIGKILL');
  await Promise.all(racers);
  const entries = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { pid: number; enter: string; exit: string; waitedMs: number; cpuTicks: number })
    .sort((a, b) => (BigInt(a.enter) < BigInt(b.enter) ? -1 : 1));
  assert.is(entries.length, 72, 'every racer held the lock three times');
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1];
    const cur = entries[i];
    assert.ok(prev && cur && BigInt(cur.enter) >= BigInt(prev.exit), `process ${cur?.pid} entered while ${prev?.pid} held the lock`);
  }
  // a spinning waiter burns about as much CPU as it waits (100 % before this fix); pollers use a few %
  const longWaits = entries.filter((e) => e.waitedMs > 500);
  assert.ok(longWaits.length > 0, 'some racers waited long enough to tell');
  for (const e of longWaits) {
    const cpuMs = e.cpuTicks * 10; // USER_HZ is 100 on Linux
    assert.ok(cpuMs <= 0.25 * e.waitedMs + 100, `process ${e.pid} used ${cpuMs} ms of CPU while waiting ${e.waitedMs.toFixed(0)} ms`);
  }
  assert.not.ok(existsSync(path.dirname(file)), 'the last one out removed the folder');
});

test.run();
