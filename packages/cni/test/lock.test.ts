// Operations on one attachment are serialised ACROSS PROCESSES (cni-tool processes, FAKE plugins that record
// when each run started and ended), GC holds its network exclusively, and bad lock paths fail clearly.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FakeCall, gateStarted, openGate, takesLocks, waitUntil } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cnitoolContainerId } from '../src/index.js';
import { fakeEnv } from './fake-env.js';

const TOOL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../scripts/cni-tool.mjs');
const NET = 'locknet';

function setup() {
  const f = fakeEnv([{ type: 'fake-a' }], { name: 'x', cniVersion: '1.1.0', plugins: [{ type: 'fake-a' }] });
  const confDir = path.join(f.root, 'net.d');
  mkdirSync(confDir);
  writeFileSync(path.join(confDir, '10-lock.conflist'), JSON.stringify({ name: NET, cniVersion: '1.1.0', plugins: [{ type: 'fake-a' }] }));
  const env = { ...process.env, NETCONFPATH: confDir, CNI_PATH: f.bin, CNI_CACHE_DIR: f.cacheDir };
  // the fake reads its spec from __FAKE_SPEC__ when set: how one process gets a slow or hanging plugin
  const spec = (extra: Record<string, unknown>) => ({ __FAKE_SPEC__: JSON.stringify({ type: 'fake-a', recordDir: f.rec, ...extra }) });
  const start = (args: string[], extra: Record<string, string> = {}) => {
    const child = spawn(process.execPath, [TOOL, ...args], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on('close', (code) => resolve({ code, stdout, stderr })),
    );
    return { child, done };
  };
  const run = (args: string[], extra: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [TOOL, ...args], { env: { ...env, ...extra }, encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const locks = path.join(f.cacheDir, 'locks');
  return { f, env, spec, start, run, locks };
}

const waitFor = (cond: () => boolean, what: string) => waitUntil(cond, what);
const killGroup = (pid: number) => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* gone */
  }
};
const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

function assertNoOverlap(calls: FakeCall[]): void {
  for (let i = 1; i < calls.length; i++) {
    const prev = calls[i - 1] as FakeCall;
    const cur = calls[i] as FakeCall;
    assert.ok(
      cur.startNs >= prev.endNs,
      `${cur.verb} (pid ${cur.pid}) started before ${prev.verb} (pid ${prev.pid}) ended: plugin runs overlapped`,
    );
  }
}

test('20 concurrent cni-tool add/del pairs on one container: their plugin runs never overlap, every one succeeds', async () => {
  const { f, spec, start } = setup();
  const ns = '/var/run/netns/t3-lock-pairs';
  const procs = Array.from({ length: 20 }, () => [
    start(['add', NET, ns], spec({ delayMs: 30 })),
    start(['del', NET, ns], spec({ delayMs: 30 })),
  ]).flat();
  const results = await Promise.all(procs.map((p) => p.done));
  for (const r of results) assert.is(r.code, 0, r.stderr);
  const calls = f.calls();
  assert.is(calls.length, 40, 'one plugin run per process');
  assert.ok(
    calls.every((c) => c.env.CNI_CONTAINERID === cnitoolContainerId(ns)),
    'all on the same container',
  );
  assertNoOverlap(calls);
});

test('an ADD started while a GC runs waits until the GC ends; a GC waits for an ADD already running', async () => {
  const { f, spec, start, run, locks } = setup();
  const stale = '/var/run/netns/t3-lock-stale';
  assert.is(run(['add', NET, stale]).code, 0);
  // GC (DEL of the stale attachment, then the GC verb) with a plugin held at a gate; an ADD arrives while it
  // runs, and the gate opens only once the ADD is taking locks (and so waits for the GC's)
  const gate = path.join(f.root, 'gate-gc');
  const gc = start(['gc', NET], spec({ gate: { dir: gate } }));
  await waitFor(() => gateStarted(gate).length > 0 || !alive(gc.child), 'the GC to run its first plugin');
  const add = start(['add', NET, '/var/run/netns/t3-lock-new'], spec({}));
  await waitFor(() => takesLocks(add.child.pid ?? 0) || !alive(add.child), 'the ADD to wait for the GC’s lock');
  openGate(gate);
  const [g, a] = await Promise.all([gc.done, add.done]);
  assert.is(g.code, 0, g.stderr);
  assert.is(a.code, 0, a.stderr);
  let calls = f.calls().slice(1);
  assert.equal(
    calls.map((c) => c.verb),
    ['DEL', 'GC', 'ADD'],
  );
  assert.ok((calls[2] as FakeCall).startNs >= (calls[1] as FakeCall).endNs, 'the ADD ran after the GC ended');

  // now the other way round: a slow ADD holds its attachment, a GC started meanwhile waits for it
  const before = f.calls().length;
  const gate2 = path.join(f.root, 'gate-add');
  const slow = start(['add', NET, '/var/run/netns/t3-lock-slow'], spec({ gate: { dir: gate2 } }));
  await waitFor(() => gateStarted(gate2).length > 0 || !alive(slow.child), 'the ADD to run its plugin');
  const gc2 = start(['gc', NET], { CNI_GC_VALID: '[]' });
  await waitFor(() => takesLocks(gc2.child.pid ?? 0) || !alive(gc2.child), 'the GC to wait for the ADD’s lock');
  openGate(gate2);
  const [s, g2] = await Promise.all([slow.done, gc2.done]);
  assert.is(s.code, 0, s.stderr);
  assert.is(g2.code, 0, g2.stderr);
  calls = f.calls().slice(before);
  const addCall = calls.find((c) => c.verb === 'ADD') as FakeCall;
  const gcCalls = calls.filter((c) => c !== addCall);
  assert.ok(gcCalls.length >= 2, 'the GC deleted what was cached and sent GC');
  for (const c of gcCalls) assert.ok(c.startNs >= addCall.endNs, `${c.verb} of the GC ran while the ADD was still running`);
  assert.equal(f.cni.getCachedAttachments(), [], 'GC with nothing valid removed every attachment');
  assert.not.ok(existsSync(locks), 'no lock file or folder is left once nobody holds one');
});

test('a wait that runs out names the holder pid (code 11); a holder killed with SIGKILL leaves no lock behind', async () => {
  const { f, spec, start, run } = setup();
  const ns = '/var/run/netns/t3-lock-hang';
  // the holder: an ADD whose plugin never answers (it would time out after a minute)
  const holder = start(['add', NET, ns], spec({ hang: ['ADD'] }));
  try {
    await waitFor(() => f.calls().length === 1 || !alive(holder.child), 'the hanging ADD to start');
    const busy = run(['del', NET, ns], { CNI_TIMEOUT_MS: '300' });
    assert.is(busy.code, 1, busy.stderr);
    assert.match(busy.stderr, `attachment ${NET}/${cnitoolContainerId(ns)}/eth0 is busy: process ${holder.child.pid} holds its lock`);
    assert.match(busy.stderr, /"code":11/);
    assert.is(f.calls().length, 1, 'the waiting DEL ran no plugin');

    holder.child.kill('SIGKILL');
    await holder.done;
    // the lock died with its holder: the next operation goes ahead (it would fail after 60 s otherwise)
    const del = run(['del', NET, ns]);
    assert.is(del.code, 0, del.stderr);
    assert.equal(
      f.calls().map((c) => c.verb),
      ['ADD', 'DEL'],
    );
  } finally {
    holder.child.kill('SIGKILL');
    for (const c of f.calls()) if (c.verb === 'ADD') killGroup(c.pid); // the hung plugin and its sleep
  }
});

test('bad lock paths: a folder or a symlink where a lock file goes, a file where the lock folder goes: clear error, no plugin run', () => {
  const { f, run, locks } = setup();
  const ns = '/var/run/netns/t3-lock-bad';
  mkdirSync(path.join(locks, `${NET}.lock`), { recursive: true });
  let r = run(['add', NET, ns]);
  assert.is(r.code, 1);
  assert.match(r.stderr, `lock file ${path.join(locks, `${NET}.lock`)}: is a directory, not a lock file; remove it`);
  rmSync(path.join(locks, `${NET}.lock`), { recursive: true });

  const target = path.join(f.root, 'precious');
  writeFileSync(target, 'keep me');
  const attachment = path.join(locks, `${NET}+${cnitoolContainerId(ns)}+eth0.lock`);
  symlinkSync(target, attachment);
  r = run(['del', NET, ns]);
  assert.is(r.code, 1);
  assert.match(r.stderr, `lock file ${attachment}: is a symbolic link`);
  assert.is(readFileSync(target, 'utf8'), 'keep me');
  rmSync(locks, { recursive: true });

  writeFileSync(locks, 'not a folder');
  r = run(['add', NET, ns]);
  assert.is(r.code, 1);
  assert.match(r.stderr, `its folder ${locks} cannot be created`);
  assert.is(f.calls().length, 0, 'no plugin ran');
});

test('a cache folder on a read-only file system: a clear error naming the lock folder, no plugin run (root: read-only tmpfs)', () => {
  const { f, run } = setup();
  if (process.getuid?.() !== 0) throw new Error('this test needs root (mount)');
  const ro = path.join(f.root, 'ro-cache');
  mkdirSync(ro);
  assert.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]).status, 0);
  try {
    const r = run(['add', NET, '/var/run/netns/t3-lock-ro'], { CNI_CACHE_DIR: ro });
    assert.is(r.code, 1);
    assert.match(r.stderr, `its folder ${path.join(ro, 'locks')} cannot be created (the file system is read-only)`);
    assert.is(f.calls().length, 0);
  } finally {
    spawnSync('umount', [ro]);
  }
});

test.run();
