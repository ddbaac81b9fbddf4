import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gateStarted, openGate, waitUntil, writeFakePlugin } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniErrors, confFromBytes, defaultPluginExec } from '../src/index.js';
import { cachedResult, fakeEnv, rtOf, rejects } from './fake-env.js';

const list2 = (cniVersion: string, extra: Record<string, unknown> = {}) => ({
  name: 'gcnet',
  cniVersion,
  plugins: [{ type: 'fake-a', capabilities: { portMappings: true } }, { type: 'fake-b' }],
  ...extra,
});
const two = [{ type: 'fake-a' }, { type: 'fake-b' }];

test('GC 1.1.0: cache-driven DEL of stale attachments with what the cache recorded, then GC to every plugin', async () => {
  const f = fakeEnv(two, list2('1.1.0'));
  await f.cni.addNetworkList(f.list, rtOf('keep'));
  await f.cni.addNetworkList(
    f.list,
    rtOf('stale', {
      netns: '/var/run/netns/old',
      args: [
        ['IgnoreUnknown', '1'],
        ['A', 'b'],
      ],
      capabilityArgs: { portMappings: [{ hostPort: 9 }] },
    }),
  );
  // another network in the same cache is not ours to collect
  const other = confFromBytes(JSON.stringify({ ...list2('1.1.0'), name: 'othernet' }), 'other');
  await f.cni.addNetworkList(other, rtOf('foreign'));
  const before = f.calls().length;
  await f.cni.gcNetworkList(f.list, { validAttachments: [{ containerID: 'keep', ifname: 'eth0' }] });
  const calls = f.calls().slice(before);
  assert.equal(
    calls.map((c) => `${c.verb} ${c.type} ${c.env.CNI_CONTAINERID}`),
    ['DEL fake-b stale', 'DEL fake-a stale', 'GC fake-a ', 'GC fake-b '],
  );
  const del = calls[1];
  assert.is(del?.env.CNI_NETNS, '/var/run/netns/old');
  assert.is(del?.env.CNI_ARGS, 'IgnoreUnknown=1;A=b');
  assert.equal(del?.request?.runtimeConfig, { portMappings: [{ hostPort: 9 }] });
  assert.ok(del?.request?.prevResult, 'cached result as prevResult');
  for (const g of calls.slice(2)) {
    assert.equal(g.request?.['cni.dev/valid-attachments'], [{ containerID: 'keep', ifname: 'eth0' }]);
    assert.equal(g.request?.['cni.dev/attachments'], [{ containerID: 'keep', ifname: 'eth0' }]);
    assert.is(g.request?.name, 'gcnet');
    assert.is(g.request?.cniVersion, '1.1.0');
    assert.not.ok('prevResult' in (g.request ?? {}) || 'runtimeConfig' in (g.request ?? {}) || 'capabilities' in (g.request ?? {}));
    assert.is(g.env.CNI_PATH, f.cni.pluginDirs.join(':'));
  }
  assert.ok(existsSync(cachedResult(f.cacheDir, 'gcnet', 'keep', 'eth0')));
  assert.not.ok(existsSync(cachedResult(f.cacheDir, 'gcnet', 'stale', 'eth0')));
  assert.ok(existsSync(cachedResult(f.cacheDir, 'othernet', 'foreign', 'eth0')));
});

test('GC: nothing valid sends [] (not null); below 1.1.0 only DELs; disableGC does nothing', async () => {
  const f = fakeEnv(two, list2('1.1.0'));
  await f.cni.gcNetworkList(f.list);
  for (const g of f.calls()) assert.equal(g.request?.['cni.dev/valid-attachments'], []);
  const old = fakeEnv(two, list2('1.0.0'));
  await old.cni.addNetworkList(old.list, rtOf('s1'));
  await old.cni.gcNetworkList(old.list, { validAttachments: [] });
  assert.equal(
    old.calls().map((c) => c.verb),
    ['ADD', 'ADD', 'DEL', 'DEL'],
  );
  const off = fakeEnv(two, list2('1.1.0', { disableGC: 'True' }));
  await off.cni.addNetworkList(off.list, rtOf('s1'));
  await off.cni.gcNetworkList(off.list);
  assert.equal(
    off.calls().map((c) => c.verb),
    ['ADD', 'ADD'],
  );
  assert.ok(existsSync(cachedResult(off.cacheDir, 'gcnet', 's1', 'eth0')));
});

test('GC keeps going on errors and reports them all', async () => {
  const f = fakeEnv(
    [
      { type: 'fake-a', fail: { verbs: ['GC'], code: 999, msg: 'gc a broke' } },
      { type: 'fake-b', fail: { verbs: ['GC'], code: 5, msg: 'gc b broke' } },
    ],
    list2('1.1.0'),
  );
  await rejects(f.cni.gcNetworkList(f.list), (e) => {
    assert.instance(e, CniErrors);
    assert.equal(
      (e as CniErrors).errors.map((x) => [x.plugin, x.verb, x.code]),
      [
        ['fake-a', 'GC', 999],
        ['fake-b', 'GC', 5],
      ],
    );
  });
});

test('STATUS 1.1.0: in order, first error wins (code 50); below 1.1.0 nothing runs', async () => {
  const f = fakeEnv([{ type: 'fake-a' }, { type: 'fake-b', fail: { verbs: ['STATUS'], code: 50, msg: 'no IPs left' } }], list2('1.1.0'));
  await rejects(f.cni.getStatusNetworkList(f.list), (e) => {
    assert.is(e.code, 50);
    assert.is(e.plugin, 'fake-b');
    assert.is(e.verb, 'STATUS');
  });
  const calls = f.calls();
  assert.equal(
    calls.map((c) => `${c.verb} ${c.type}`),
    ['STATUS fake-a', 'STATUS fake-b'],
  );
  assert.is(calls[0]?.env.CNI_CONTAINERID, '');
  assert.not.ok('capabilities' in (calls[0]?.request ?? {}));
  const ok = fakeEnv(two, list2('1.1.0'));
  await ok.cni.getStatusNetworkList(ok.list);
  assert.is(ok.calls().length, 2);
  const old = fakeEnv([{ type: 'fake-a', fail: { verbs: ['*'], code: 50, msg: 'x' } }, { type: 'fake-b' }], list2('1.0.0'));
  await old.cni.getStatusNetworkList(old.list);
  assert.is(old.calls().length, 0);
});

test('VERSION: probe env and stdin, libcni decoding rules', async () => {
  const f = fakeEnv(
    [
      { type: 'v-ok', version: { cniVersion: '1.0.0', supportedVersions: ['0.3.1', '1.0.0'] } },
      { type: 'v-020', version: { cniVersion: '0.2.0' } },
      { type: 'v-old', version: 'unknown-verb' },
      { type: 'v-nover', version: { supportedVersions: ['1.0.0'] } },
      { type: 'v-nosup', version: { cniVersion: '1.0.0' } },
      { type: 'v-garbage', version: { raw: '<html>' } },
    ],
    list2('1.0.0'),
  );
  assert.equal(await f.cni.getVersionInfo('v-ok'), { cniVersion: '1.0.0', supportedVersions: ['0.3.1', '1.0.0'] });
  const probe = f.calls()[0];
  assert.equal(
    Object.fromEntries(
      Object.entries(probe?.env ?? {}).filter(([k]) =>
        ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'].includes(k),
      ),
    ),
    { CNI_COMMAND: 'VERSION', CNI_CONTAINERID: '', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_ARGS: '', CNI_PATH: 'dummy' },
  );
  assert.equal(probe?.request, { cniVersion: '1.1.0' });
  assert.equal(await f.cni.getVersionInfo('v-020'), { cniVersion: '0.2.0', supportedVersions: ['0.1.0', '0.2.0'] });
  assert.equal(await f.cni.getVersionInfo('v-old'), { cniVersion: '0.1.0', supportedVersions: ['0.1.0'] });
  await rejects(f.cni.getVersionInfo('v-nover'), (e) => assert.match(e.msg, /missing field cniVersion/));
  await rejects(f.cni.getVersionInfo('v-nosup'), (e) => assert.match(e.msg, /missing field supportedVersions/));
  await rejects(f.cni.getVersionInfo('v-garbage'), (e) => {
    assert.is(e.code, 6);
    assert.is(e.verb, 'VERSION');
  });
  await rejects(f.cni.getVersionInfo('v-none'), (e) => assert.match(e.msg, /failed to find plugin "v-none"/));
});

test('validate: every plugin found and speaking the list version, all problems at once, nothing else run', async () => {
  const f = fakeEnv(
    [{ type: 'fake-a', version: { cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0'] } }, { type: 'fake-b' }],
    list2('1.1.0'),
  );
  await rejects(f.cni.validateNetworkList(f.list), (e) => {
    assert.is(e.plugin, 'fake-a');
    assert.is(e.code, 1);
    assert.match(e.msg, /version 1.1.0 but the plugin supports \[0.4.0 1.0.0\]/);
  });
  const ok = fakeEnv([{ type: 'fake-a' }, { type: 'fake-b' }], list2('1.1.0'));
  const reports = await ok.cni.validateNetworkList(ok.list);
  assert.equal(
    reports.map((r) => [r.type, r.path]),
    [
      ['fake-a', path.join(ok.bin, 'fake-a')],
      ['fake-b', path.join(ok.bin, 'fake-b')],
    ],
  );
  assert.equal(
    ok.calls().map((c) => c.verb),
    ['VERSION', 'VERSION'],
  );
  const missing = fakeEnv([], list2('1.0.0'));
  await rejects(missing.cni.validateNetworkList(missing.list), (e) => {
    assert.instance(e, CniErrors);
    assert.is((e as CniErrors).errors.length, 2);
  });
});

test('concurrency: different attachments in parallel, one attachment serialised, GC alone', async () => {
  // a barrier: each ADD's plugin waits until all four have started, so they can only finish if they ran at once
  const barrier = { dir: path.join(mkdtempSync(path.join(os.tmpdir(), 'cni-barrier-')), 'gate'), count: 4 };
  const f = fakeEnv([{ type: 'fake-a', gate: barrier }], { name: 'cc', cniVersion: '1.1.0', plugins: [{ type: 'fake-a' }] });
  const overlap = (a: { startNs: bigint; endNs: bigint }, b: { startNs: bigint; endNs: bigint }) =>
    a.startNs < b.endNs && b.startNs < a.endNs;
  await Promise.all(['p1', 'p2', 'p3', 'p4'].map((id) => f.cni.addNetworkList(f.list, rtOf(id))));
  const adds = f.calls();
  assert.is(adds.length, 4);
  assert.is(gateStarted(barrier.dir).length, 4, 'four different attachments ran at the same time');
  rmSync(path.dirname(barrier.dir), { recursive: true, force: true });

  const g = fakeEnv([{ type: 'fake-a', delayMs: 200 }], { name: 'cc', cniVersion: '1.1.0', plugins: [{ type: 'fake-a' }] });
  await Promise.all([
    g.cni.addNetworkList(g.list, rtOf('same')),
    g.cni.delNetworkList(g.list, rtOf('same')),
    g.cni.addNetworkList(g.list, rtOf('same')),
  ]);
  const seq = g.calls();
  assert.equal(
    seq.map((c) => c.verb),
    ['ADD', 'DEL', 'ADD'],
    'issued order kept',
  );
  for (let i = 1; i < seq.length; i++)
    assert.not.ok(overlap(seq[i - 1] as (typeof seq)[0], seq[i] as (typeof seq)[0]), 'same attachment never overlaps');
  assert.ok(existsSync(cachedResult(g.cacheDir, 'cc', 'same', 'eth0')), 'the last ADD wins, its cache entry stays');

  // the first ADD's plugin waits at a gate: GC and the second ADD are issued while it is surely in flight
  const gate = path.join(mkdtempSync(path.join(os.tmpdir(), 'cni-gate-')), 'gate');
  const h = fakeEnv([{ type: 'fake-a', gate: { dir: gate } }], { name: 'cc', cniVersion: '1.1.0', plugins: [{ type: 'fake-a' }] });
  const a1 = h.cni.addNetworkList(h.list, rtOf('x1'));
  await waitUntil(() => gateStarted(gate).length === 1, 'the first ADD to run its plugin');
  const gc = h.cni.gcNetworkList(h.list, {
    validAttachments: [
      { containerID: 'x1', ifname: 'eth0' },
      { containerID: 'x2', ifname: 'eth0' },
    ],
  });
  const a2 = h.cni.addNetworkList(h.list, rtOf('x2'));
  openGate(gate);
  await Promise.all([a1, gc, a2]);
  const hc = h.calls();
  assert.equal(
    hc.map((c) => `${c.verb} ${c.env.CNI_CONTAINERID}`),
    ['ADD x1', 'GC ', 'ADD x2'],
    'GC waits for the ADD in flight; an ADD issued after GC waits for it',
  );
  for (let i = 1; i < hc.length; i++) assert.not.ok(overlap(hc[i - 1] as (typeof hc)[0], hc[i] as (typeof hc)[0]));
  rmSync(path.dirname(gate), { recursive: true, force: true });
});

test('exec: "text file busy" is retried until the binary can be run', async () => {
  const f = fakeEnv([], { name: 'n', cniVersion: '1.0.0', plugins: [{ type: 'busy' }] });
  const file = writeFakePlugin(f.bin, { type: 'busy', recordDir: f.rec });
  const fd = openSync(file, 'r+'); // open for writing: execve now fails with ETXTBSY
  // the first attempt's execve happens inside the call (spawn reports ETXTBSY synchronously): once it
  // returns, that attempt has failed and ran nothing; only a retry after the file is closed can run it
  const run = defaultPluginExec({ pluginPath: file, env: { CNI_COMMAND: 'VERSION' }, stdin: Buffer.from('{}'), timeoutMs: 10_000 });
  assert.is(f.calls().length, 0, 'the first attempt ran nothing');
  closeSync(fd);
  const r = await run;
  assert.is(r.exitCode, 0, 'a retry ran it');
  assert.match(r.stdout, /supportedVersions/);
  assert.is(f.calls().length, 1);
});

test.run();
