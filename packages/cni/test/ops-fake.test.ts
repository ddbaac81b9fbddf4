import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitUntil } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, CniErrors, CniRuntime, type Result } from '../src/index.js';
import { cachedResult, fakeEnv, rtOf, rejects } from './fake-env.js';

const chain = (cniVersion: string, extra: Record<string, unknown> = {}) => ({
  name: 'fakenet',
  cniVersion,
  plugins: [
    { type: 'fake-a', capabilities: { portMappings: true, ips: false, mac: true }, custom: { keep: 1 } },
    { type: 'fake-b' },
    { type: 'fake-c', capabilities: { bandwidth: true } },
  ],
  ...extra,
});
const SIX = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'];
const three = [{ type: 'fake-a' }, { type: 'fake-b' }, { type: 'fake-c' }];

/** Processes of a process group that are not zombies (PID 1 here may be slow to reap orphans). */
function liveInGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(d));
    } catch {
      /* exited while we looked */
    }
  }
  return out;
}

test('ADD: plugins in order, env built exactly, request per plugin, result cached', async () => {
  const f = fakeEnv(three, chain('1.0.0'));
  const rt = rtOf('c1', {
    capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], ips: ['10.0.0.9/24'] },
  });
  // a caller's own CNI_* variables must not leak into the plugin's view
  process.env.CNI_IFNAME = 'bogus0';
  process.env.CNI_ARGS = 'X=1';
  const result = (await f.cni.addNetworkList(f.list, rt).finally(() => {
    delete process.env.CNI_IFNAME;
    delete process.env.CNI_ARGS;
  })) as Result;
  const calls = f.calls();
  assert.equal(
    calls.map((c) => `${c.verb} ${c.type}`),
    ['ADD fake-a', 'ADD fake-b', 'ADD fake-c'],
  );
  for (const c of calls) {
    const six = Object.fromEntries(Object.entries(c.env).filter(([k]) => SIX.includes(k)));
    assert.equal(six, {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c1',
      CNI_NETNS: '/var/run/netns/fake-c1',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'IgnoreUnknown=1',
      CNI_PATH: f.cni.pluginDirs.join(':'),
    });
    assert.is(c.request?.name, 'fakenet');
    assert.is(c.request?.cniVersion, '1.0.0');
    assert.not.ok('capabilities' in (c.request ?? {}), 'capabilities stripped');
  }
  const [a, b, c] = calls.map((x) => x.request ?? {});
  assert.not.ok('prevResult' in (a ?? {}), 'first plugin gets no prevResult');
  // only capabilities declared true AND given: portMappings (mac not given, ips declared false)
  assert.equal(a?.runtimeConfig, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
  assert.equal(a?.custom, { keep: 1 });
  assert.not.ok('runtimeConfig' in (b ?? {}), 'no capabilities -> no runtimeConfig');
  assert.not.ok('runtimeConfig' in (c ?? {}), 'declared but not given -> no runtimeConfig');
  assert.equal(
    (b?.prevResult as Result | undefined)?.interfaces?.map((i) => i.name),
    ['fake-a'],
  );
  assert.equal(
    (c?.prevResult as Result | undefined)?.interfaces?.map((i) => i.name),
    ['fake-a', 'fake-b'],
  );
  assert.is(result.cniVersion, '1.0.0');
  assert.equal(
    result.interfaces?.map((i) => i.name),
    ['fake-a', 'fake-b', 'fake-c'],
  );
  assert.equal(f.cni.getCachedResult(f.list, rt), result);
});

test('ADD: a plugin answering in another version is converted before it becomes prevResult', async () => {
  const f = fakeEnv(
    [{ type: 'fake-a', resultVersion: '0.2.0' }, { type: 'fake-b', resultVersion: '0.4.0' }, { type: 'fake-c' }],
    chain('1.0.0'),
  );
  const result = (await f.cni.addNetworkList(f.list, rtOf())) as Result;
  const [, b, c] = f.calls().map((x) => x.request ?? {});
  const prevB = b?.prevResult as Result;
  assert.is(prevB.cniVersion, '1.0.0');
  assert.equal(prevB.ips, [{ address: '10.99.0.2/24', gateway: '10.99.0.1' }]);
  const prevC = c?.prevResult as Result;
  assert.is(prevC.cniVersion, '1.0.0');
  assert.ok(
    prevC.ips?.every((i) => !('version' in i)),
    '0.4.0 ips[].version removed for a 1.0.0 request',
  );
  assert.is(result.cniVersion, '1.0.0');
});

test('ADD: 0.3.1 list gets ips[].version in prevResult', async () => {
  const f = fakeEnv([{ type: 'fake-a', resultVersion: '1.0.0' }, { type: 'fake-b' }, { type: 'fake-c' }], chain('0.3.1'));
  await f.cni.addNetworkList(f.list, rtOf());
  const b = f.calls()[1]?.request;
  assert.equal((b?.prevResult as Result | undefined)?.ips?.[0]?.version, '4');
  assert.is((b?.prevResult as Result | undefined)?.cniVersion, '0.3.1');
});

test('ADD: stops at the first failure, names the plugin and verb, keeps code/msg/details/stderr; no cache', async () => {
  const f = fakeEnv(
    [
      { type: 'fake-a' },
      { type: 'fake-b', fail: { verbs: ['ADD'], code: 7, msg: 'bad bridge name', details: 'field bridge', stderr: 'log line\n' } },
      { type: 'fake-c' },
    ],
    chain('1.0.0'),
  );
  await rejects(f.cni.addNetworkList(f.list, rtOf()), (e) => {
    assert.is(e.plugin, 'fake-b');
    assert.is(e.verb, 'ADD');
    assert.is(e.code, 7);
    assert.is(e.msg, 'bad bridge name');
    assert.is(e.details, 'field bridge');
    assert.is(e.stderr, 'log line\n');
    assert.match(e.message, /plugin type="fake-b" failed \(add\)/);
  });
  assert.equal(
    f.calls().map((c) => c.type),
    ['fake-a', 'fake-b'],
  );
  assert.not.ok(existsSync(cachedResult(f.cacheDir, 'fakenet', 'c1', 'eth0')));
});

test('plugin failures decoded like libcni: stderr only, nothing, garbage, JSON that is not an error', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ crash: { verbs: ['ADD'], stderr: 'panic: boom' } }, /netplugin failed: "panic: boom"/],
    [{ crash: { verbs: ['ADD'], stderr: '', exitCode: 3 } }, /netplugin failed with no error message: exit status 3/],
    [{ fail: { verbs: ['ADD'], code: 0, msg: '' }, garbage: undefined }, /\(CNI error code 0\)/],
  ];
  for (const [spec, re] of cases) {
    const f = fakeEnv([{ type: 'fake-a', ...spec }], { name: 'n', cniVersion: '1.0.0', plugins: [{ type: 'fake-a' }] });
    await rejects(f.cni.addNetworkList(f.list, rtOf()), (e) => {
      assert.match(e.message, re);
      assert.is(e.plugin, 'fake-a');
    });
  }
  const g = fakeEnv([{ type: 'fake-a', garbage: { verbs: ['ADD'], stdout: 'hello, not json' } }], {
    name: 'n',
    cniVersion: '1.0.0',
    plugins: [{ type: 'fake-a' }],
  });
  await rejects(g.cni.addNetworkList(g.list, rtOf()), (e) => {
    assert.is(e.code, 6);
    assert.match(e.msg, /failed to unmarshal raw result "hello, not json"/);
    assert.is(e.plugin, 'fake-a');
  });
  assert.not.ok(existsSync(path.join(g.cacheDir, 'results')), 'garbage result: nothing cached');
});

test('cache: libcni path and cniCacheV1 fields, 0600 in 0700, written atomically', async () => {
  const f = fakeEnv(three, chain('1.0.0'));
  const rt = rtOf('ctr-9', {
    capabilityArgs: { portMappings: [], unused: { x: 1 } },
    args: [
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAME', 'p'],
    ],
  });
  const result = await f.cni.addNetworkList(f.list, rt);
  const file = path.join(f.cacheDir, 'results', 'fakenet-ctr-9-eth0');
  const entry = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.equal(Object.keys(entry).sort(), [
    'capabilityArgs',
    'cniArgs',
    'config',
    'containerId',
    'ifName',
    'kind',
    'netns',
    'networkName',
    'result',
  ]);
  assert.is(entry.kind, 'cniCacheV1');
  assert.is(entry.containerId, 'ctr-9');
  assert.is(entry.ifName, 'eth0');
  assert.is(entry.networkName, 'fakenet');
  assert.is(entry.netns, '/var/run/netns/fake-ctr-9');
  assert.equal(entry.cniArgs, [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAME', 'p'],
  ]);
  assert.equal(entry.capabilityArgs, { portMappings: [], unused: { x: 1 } }, 'all capability args, not only used ones');
  assert.is(Buffer.from(entry.config as string, 'base64').toString(), Buffer.from(f.list.bytes).toString());
  assert.equal(entry.result, result);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.is(statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.equal(readdirSync(path.dirname(file)), ['fakenet-ctr-9-eth0'], 'no temp file left');
  assert.equal(
    f.cni.getCachedAttachments().map((e) => e.containerId),
    ['ctr-9'],
  );
  assert.equal(f.cni.getCachedAttachments('other'), []);
});

test('DEL: reverse order, cached result as prevResult for every plugin, cache removed, idempotent', async () => {
  const f = fakeEnv(three, chain('1.0.0'));
  const rt = rtOf('c2', { capabilityArgs: { portMappings: [{ hostPort: 1 }] } });
  const result = await f.cni.addNetworkList(f.list, rt);
  await f.cni.delNetworkList(f.list, rt);
  const dels = f.calls().filter((c) => c.verb === 'DEL');
  assert.equal(
    dels.map((c) => c.type),
    ['fake-c', 'fake-b', 'fake-a'],
  );
  for (const d of dels) assert.equal(d.request?.prevResult, result);
  assert.equal(dels[2]?.request?.runtimeConfig, { portMappings: [{ hostPort: 1 }] });
  assert.is(dels[0]?.env.CNI_COMMAND, 'DEL');
  assert.not.ok(existsSync(cachedResult(f.cacheDir, 'fakenet', 'c2', 'eth0')));
  await f.cni.delNetworkList(f.list, { ...rt, netns: '' });
  const again = f
    .calls()
    .filter((c) => c.verb === 'DEL')
    .slice(3);
  assert.is(again.length, 3, 'second DEL runs every plugin again');
  for (const d of again) {
    assert.not.ok('prevResult' in (d.request ?? {}), 'no cache -> no prevResult');
    assert.is(d.env.CNI_NETNS, '', 'a vanished netns is passed as empty');
  }
});

test('DEL: no prevResult below 0.4.0; an unreadable cache entry is dropped and DEL goes on', async () => {
  const f = fakeEnv(three, chain('0.3.1'));
  await f.cni.addNetworkList(f.list, rtOf());
  await f.cni.delNetworkList(f.list, rtOf());
  for (const d of f.calls().filter((c) => c.verb === 'DEL')) assert.not.ok('prevResult' in (d.request ?? {}));

  const g = fakeEnv(three, chain('1.0.0'));
  await g.cni.addNetworkList(g.list, rtOf());
  writeFileSync(cachedResult(g.cacheDir, 'fakenet', 'c1', 'eth0'), '');
  await g.cni.delNetworkList(g.list, rtOf());
  const dels = g.calls().filter((c) => c.verb === 'DEL');
  assert.is(dels.length, 3);
  assert.not.ok('prevResult' in (dels[0]?.request ?? {}));
  assert.not.ok(existsSync(cachedResult(g.cacheDir, 'fakenet', 'c1', 'eth0')));
});

test('DEL: a failing plugin stops DEL and keeps the cache for a retry', async () => {
  const f = fakeEnv(
    [{ type: 'fake-a' }, { type: 'fake-b', fail: { verbs: ['DEL'], code: 11, msg: 'busy' } }, { type: 'fake-c' }],
    chain('1.0.0'),
  );
  await f.cni.addNetworkList(f.list, rtOf());
  await rejects(f.cni.delNetworkList(f.list, rtOf()), (e) => {
    assert.is(e.verb, 'DEL');
    assert.is(e.code, 11);
  });
  assert.equal(
    f
      .calls()
      .filter((c) => c.verb === 'DEL')
      .map((c) => c.type),
    ['fake-c', 'fake-b'],
  );
  assert.ok(existsSync(cachedResult(f.cacheDir, 'fakenet', 'c1', 'eth0')));
});

test('CHECK: forward order with the cached result; refused below 0.4.0, never-added, or skipped by disableCheck', async () => {
  const f = fakeEnv(three, chain('0.4.0'));
  await rejects(f.cni.checkNetworkList(f.list, rtOf()), (e) => {
    assert.is(e.code, 3);
    assert.match(e.msg, /CHECK needs an attachment that was added/);
  });
  assert.is(f.calls().length, 0, 'never-added: no plugin run');
  const result = await f.cni.addNetworkList(f.list, rtOf());
  await f.cni.checkNetworkList(f.list, rtOf());
  const checks = f.calls().filter((c) => c.verb === 'CHECK');
  assert.equal(
    checks.map((c) => c.type),
    ['fake-a', 'fake-b', 'fake-c'],
  );
  for (const c of checks) assert.equal(c.request?.prevResult, result);

  const old = fakeEnv(three, chain('0.3.1'));
  await rejects(old.cni.checkNetworkList(old.list, rtOf()), (e) => {
    assert.is(e.code, 1);
    assert.match(e.msg, /does not support the CHECK command/);
  });
  const off = fakeEnv(three, chain('1.0.0', { disableCheck: 'true' }));
  await off.cni.addNetworkList(off.list, rtOf());
  await off.cni.checkNetworkList(off.list, rtOf());
  assert.is(off.calls().filter((c) => c.verb === 'CHECK').length, 0);
});

test('bad input: typed error, no plugin run, nothing cached', async () => {
  const f = fakeEnv(three, chain('1.0.0'));
  const bad: [Parameters<typeof rtOf>[1], number, RegExp][] = [
    [{ containerId: '' }, 3, /missing containerID/],
    [{ containerId: 'has space' }, 4, /invalid characters in containerID/],
    [{ containerId: '-leading' }, 4, /invalid characters/],
    [{ ifName: '' }, 4, /interface name is empty/],
    [{ ifName: 'a-very-long-ifname' }, 4, /too long/],
    [{ ifName: 'eth/0' }, 4, /contains \//],
    [{ ifName: '..' }, 4, /either \. or \.\./],
    [{ args: [['K8S', 'a;b']] }, 4, /cannot be encoded/],
    [{ args: [['K=8', 'a']] }, 4, /cannot be encoded/],
  ];
  for (const [over, code, re] of bad) {
    for (const op of ['add', 'del'] as const) {
      const rt = { ...rtOf(), ...over };
      const p = op === 'add' ? f.cni.addNetworkList(f.list, rt) : f.cni.delNetworkList(f.list, rt);
      await rejects(p, (e) => {
        assert.is(e.code, code, `${JSON.stringify(over)}: ${e.message}`);
        assert.match(e.msg, re);
      });
    }
  }
  const missing = fakeEnv([{ type: 'fake-a' }], chain('1.0.0'));
  await rejects(missing.cni.addNetworkList(missing.list, rtOf()), (e) => {
    assert.instance(e, CniErrors);
    assert.equal(
      (e as CniErrors).errors.map((x) => x.plugin),
      ['fake-b', 'fake-c'],
    );
    assert.match(e.message, /failed to find plugin "fake-b" in path/);
  });
  const noexec = fakeEnv(three, chain('1.0.0'));
  chmodSync(path.join(noexec.bin, 'fake-c'), 0o644);
  await rejects(noexec.cni.addNetworkList(noexec.list, rtOf()), (e) => {
    assert.is(e.plugin, 'fake-c');
    assert.match(e.msg, /is not executable/);
  });
  for (const env of [f, missing, noexec]) {
    assert.is(env.calls().length, 0, 'no plugin ran');
    assert.not.ok(existsSync(path.join(env.cacheDir, 'results')), 'nothing written to the cache');
  }
});

test('timeout: the whole process group is killed, even a grandchild holding stdout', async () => {
  const f = fakeEnv(
    [{ type: 'fake-a', hang: ['ADD'] }],
    { name: 'n', cniVersion: '1.0.0', plugins: [{ type: 'fake-a' }] },
    { timeoutMs: 800 },
  );
  const t0 = Date.now();
  await rejects(f.cni.addNetworkList(f.list, rtOf()), (e) => {
    assert.is(e.code, 11);
    assert.match(e.msg, /timed out after 800 ms/);
    assert.is(e.plugin, 'fake-a');
  });
  assert.ok(Date.now() - t0 < 5000, `returned after ${Date.now() - t0} ms`);
  const pid = f.calls()[0]?.pid ?? 0;
  assert.ok(pid > 0);
  // killed when the runtime gave up; reaped by the kernel a moment later: no process of the group (the sleep
  // grandchild too) may outlive that
  await waitUntil(() => liveInGroup(pid).length === 0, `the plugin group ${pid} to be gone`);
});

test('legacy list without cniVersion: request carries none, results read as 0.1.0, DEL without prevResult', async () => {
  const f = fakeEnv([{ type: 'fake-a', resultVersion: '0.1.0' }, { type: 'fake-b' }], {
    name: 'old',
    plugins: [{ type: 'fake-a' }, { type: 'fake-b' }],
  });
  assert.is(f.list.cniVersion, '');
  const r = await f.cni.addNetworkList(f.list, rtOf());
  assert.is(r.cniVersion, '0.1.0');
  assert.equal((r as { ip4?: { ip: string } }).ip4?.ip, '10.99.0.2/24');
  const b = f.calls()[1]?.request;
  assert.is((b?.prevResult as { cniVersion: string } | undefined)?.cniVersion, '0.1.0');
  await f.cni.delNetworkList(f.list, rtOf());
  for (const d of f.calls().filter((c) => c.verb === 'DEL')) assert.not.ok('prevResult' in (d.request ?? {}));
  await rejects(f.cni.checkNetworkList(f.list, rtOf()), (e) => assert.match(e.msg, /does not support the CHECK command/));
});

test('CNI_ARGS: IgnoreUnknown=1 prepended when asked, kept when given, cached as sent', async () => {
  const f = fakeEnv([{ type: 'fake-a' }], { name: 'n', cniVersion: '1.0.0', plugins: [{ type: 'fake-a' }] });
  const cni = new CniRuntime({ pluginDirs: f.cni.pluginDirs, cacheDir: f.cacheDir, ignoreUnknownArgs: true });
  await cni.addNetworkList(f.list, rtOf('c1', { args: [['K8S_POD_NAME', 'web']] }));
  await cni.delNetworkList(
    f.list,
    rtOf('c1', {
      args: [
        ['IgnoreUnknown', 'true'],
        ['X', 'y'],
      ],
    }),
  );
  await cni.delNetworkList(f.list, rtOf('c1', { args: [] }));
  assert.equal(
    f.calls().map((c) => c.env.CNI_ARGS),
    ['IgnoreUnknown=1;K8S_POD_NAME=web', 'IgnoreUnknown=true;X=y', ''],
  );
});

test("timeoutMs above Node's timer limit, zero, negative or fractional is refused when the runtime is made", () => {
  for (const bad of [3_000_000_000, 2_147_483_648, 0, -1, 1.5, Number.NaN]) {
    assert.throws(
      () => new CniRuntime({ pluginDirs: ['/usr/lib/cni'], timeoutMs: bad }),
      (e: unknown) => e instanceof CniError && /timeoutMs must be a whole number of milliseconds from 1 to 2147483647/.test(e.message),
      String(bad),
    );
  }
  assert.is(new CniRuntime({ pluginDirs: ['/usr/lib/cni'], timeoutMs: 2_147_483_647 }).timeoutMs, 2_147_483_647);
});

test('GC with validAttachments that are not an array of {containerID, ifname}: a CniError, nothing run', async () => {
  const f = fakeEnv([{ type: 'fake-a' }], { name: 'gcv', cniVersion: '1.1.0', plugins: [{ type: 'fake-a' }] });
  await f.cni.addNetworkList(f.list, rtOf('keep'));
  for (const bad of [{}, 'eth0', [1], [null], [{ containerID: 'keep' }]]) {
    await rejects(f.cni.gcNetworkList(f.list, { validAttachments: bad as never }), (e) => {
      assert.match(e.msg, /validAttachments must be an array/);
    });
  }
  assert.equal(
    f.calls().map((c) => c.verb),
    ['ADD'],
  );
  assert.is(f.cni.getCachedAttachments().length, 1);
});

test.run();
