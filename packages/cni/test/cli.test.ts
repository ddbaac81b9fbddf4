import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cnitoolContainerId, parseCniArgsEnv, type Result } from '../src/index.js';
import { cachedResult, fakeEnv } from './fake-env.js';

const TOOL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../scripts/cni-tool.mjs');

function setup(cniVersion = '1.1.0') {
  const f = fakeEnv([{ type: 'fake-a' }, { type: 'fake-b' }], { name: 'x', cniVersion, plugins: [{ type: 'fake-a' }] });
  const confDir = path.join(f.root, 'net.d');
  mkdirSync(confDir);
  writeFileSync(
    path.join(confDir, '10-clinet.conflist'),
    JSON.stringify({ name: 'clinet', cniVersion, plugins: [{ type: 'fake-a', capabilities: { portMappings: true } }, { type: 'fake-b' }] }),
  );
  const env = { ...process.env, NETCONFPATH: confDir, CNI_PATH: f.bin, CNI_CACHE_DIR: f.cacheDir };
  const run = (args: string[], extra: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [TOOL, ...args], { env: { ...env, ...extra }, encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return { f, run };
}

test('container id is cnitool\'s: "cnitool-" + first 10 bytes of SHA-512 of the netns path', () => {
  const want = `cnitool-${createHash('sha512').update('/var/run/netns/x').digest('hex').slice(0, 20)}`;
  assert.is(cnitoolContainerId('/var/run/netns/x'), want);
  assert.equal(parseCniArgsEnv('IgnoreUnknown=1;K8S_POD_NAME=a'), [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAME', 'a'],
  ]);
  assert.throws(() => parseCniArgsEnv('novalue'), /not KEY=VALUE/);
});

test('cli: add / check / del with NETCONFPATH, CNI_PATH, CNI_IFNAME, CNI_ARGS, CAP_ARGS', () => {
  const { f, run } = setup();
  const ns = '/var/run/netns/t3-cli-fake';
  const id = cnitoolContainerId(ns);
  const extra = { CNI_IFNAME: 'net1', CNI_ARGS: 'IgnoreUnknown=1;FOO=bar', CAP_ARGS: '{"portMappings":[{"hostPort":8080}]}' };
  const add = run(['add', 'clinet', ns], extra);
  assert.is(add.code, 0, add.stderr);
  const result = JSON.parse(add.stdout) as Result;
  assert.is(result.cniVersion, '1.1.0');
  assert.equal(
    result.interfaces?.map((i) => i.name),
    ['fake-a', 'fake-b'],
  );
  const [a] = f.calls();
  assert.is(a?.env.CNI_CONTAINERID, id);
  assert.is(a?.env.CNI_IFNAME, 'net1');
  assert.is(a?.env.CNI_NETNS, ns);
  assert.is(a?.env.CNI_ARGS, 'IgnoreUnknown=1;FOO=bar');
  assert.equal(a?.request?.runtimeConfig, { portMappings: [{ hostPort: 8080 }] });
  assert.ok(existsSync(cachedResult(f.cacheDir, 'clinet', id, 'net1')));
  const check = run(['check', 'clinet', ns], extra);
  assert.is(check.code, 0, check.stderr);
  const del = run(['del', 'clinet', ns], extra);
  assert.is(del.code, 0, del.stderr);
  assert.equal(
    f.calls().map((c) => `${c.verb} ${c.type}`),
    ['ADD fake-a', 'ADD fake-b', 'CHECK fake-a', 'CHECK fake-b', 'DEL fake-b', 'DEL fake-a'],
  );
  assert.not.ok(existsSync(cachedResult(f.cacheDir, 'clinet', id, 'net1')));
});

test('cli: gc, status, version, validate', () => {
  const { f, run } = setup();
  assert.is(run(['add', 'clinet', '/var/run/netns/t3-a']).code, 0);
  const gc = run(['gc', 'clinet']);
  assert.is(gc.code, 0, gc.stderr);
  assert.equal(f.cni.getCachedAttachments(), [], 'cnitool gc keeps nothing');
  assert.equal(
    f
      .calls()
      .slice(2)
      .map((c) => c.verb),
    ['DEL', 'DEL', 'GC', 'GC'],
  );
  assert.is(run(['status', 'clinet']).code, 0);
  assert.equal(
    f
      .calls()
      .slice(6)
      .map((c) => c.verb),
    ['STATUS', 'STATUS'],
  );
  const v = run(['version', 'fake-a']);
  assert.is(v.code, 0);
  assert.is((JSON.parse(v.stdout) as { cniVersion: string }).cniVersion, '1.1.0');
  const val = run(['validate', 'clinet']);
  assert.is(val.code, 0, val.stderr);
  const rep = JSON.parse(val.stdout) as { name: string; plugins: { type: string }[] };
  assert.equal(
    rep.plugins.map((p) => p.type),
    ['fake-a', 'fake-b'],
  );
});

test('cli: errors exit 1 with the CNI error as JSON on stderr; usage errors exit 2', () => {
  const { f, run } = setup();
  const bad = run(['add', 'clinet', '/var/run/netns/t3-b'], { CNI_IFNAME: 'this-name-is-too-long' });
  assert.is(bad.code, 1);
  const last = JSON.parse(bad.stderr.trim().split('\n').at(-1) ?? '{}') as { code: number; msg: string };
  assert.is(last.code, 4);
  assert.match(last.msg, /too long/);
  assert.is(f.calls().length, 0);
  const missing = run(['add', 'nosuchnet', '/var/run/netns/t3-b']);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /no net configuration with name "nosuchnet"/);
  const unknown = run(['frobnicate']);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /^cni-tool: unknown command "frobnicate"\nusage: /);
  const short = run(['add', 'clinet']);
  assert.is(short.code, 2);
  assert.match(short.stderr, /^cni-tool: add needs <network> <netns-path>\n/);
  assert.is(run(['version', 'nope']).code, 1);
});

test('cli: alone, --help and -h print the usage on stdout and exit 0; --version prints the package version', () => {
  const { f, run } = setup();
  for (const args of [[], ['--help'], ['-h']]) {
    const r = run(args);
    assert.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: cni-tool add\|check\|del/);
    assert.is(r.stderr, '');
  }
  const v = run(['--version']);
  assert.is(v.code, 0);
  const pkg = JSON.parse(readFileSync(path.join(path.dirname(TOOL), '../../package.json'), 'utf8')) as { version: string };
  assert.is(v.stdout, `cni-tool ${pkg.version} (CNI spec 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)\n`);
  assert.is(f.calls().length, 0, 'no plugin was run');
});

test('cli: a NETCONFPATH with broken siblings: add/check/del/gc/status of the good network work, the bad ones are refused by name', () => {
  const { f, run } = setup();
  const confDir = path.join(f.root, 'net.d');
  const put = (file: string, v: unknown) => writeFileSync(path.join(confDir, file), typeof v === 'string' ? v : JSON.stringify(v));
  put('00-half.conflist', '{"name": "half", "plugins": [{"type": "fake-a"}');
  put('01-bad-name.conflist', { name: 'bad name', cniVersion: '1.1.0', plugins: [{ type: 'fake-a' }] });
  put('02-path-type.conflist', { name: 'pathy', cniVersion: '1.1.0', plugins: [{ type: `../bin/fake-a` }] });
  put('03-dotdot.conflist', { name: 'dotty', cniVersion: '1.1.0', plugins: [{ type: '..' }] });
  put('04-not-json.conf', 'nonsense');
  const ns = '/var/run/netns/t3-siblings';
  for (const verb of ['add', 'check', 'del', 'gc', 'status']) {
    const r = run(verb === 'gc' || verb === 'status' ? [verb, 'clinet'] : [verb, 'clinet', ns]);
    assert.is(r.code, 0, `${verb}: ${r.stderr}`);
    assert.match(r.stderr, `cni-tool: warning: skipped ${path.join(confDir, '00-half.conflist')}: not valid JSON`);
  }
  assert.equal(
    f.calls().map((c) => c.verb),
    ['ADD', 'ADD', 'CHECK', 'CHECK', 'DEL', 'DEL', 'GC', 'GC', 'STATUS', 'STATUS'],
  );
  const calls = f.calls().length;
  for (const [net, file, msg] of [
    ['bad name', '01-bad-name.conflist', /invalid characters/],
    ['pathy', '02-path-type.conflist', /must be a plugin name, not a path/],
    ['dotty', '03-dotdot.conflist', /must be a plugin name, not a path/],
  ] as const) {
    const r = run(['add', net, ns]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, path.join(confDir, file));
    assert.match(r.stderr, msg);
  }
  const half = run(['add', 'half', ns]);
  assert.is(half.code, 1);
  assert.match(half.stderr, /no net configuration with name "half".*00-half\.conflist/);
  assert.is(f.calls().length, calls, 'no plugin ran for a refused network');
});

test('cli: CNI_TIMEOUT_MS above 2^31-1 ms, zero, negative or not a whole number is refused (exit 2) before anything runs', () => {
  const { f, run } = setup();
  for (const bad of ['3000000000', '2147483648', '0', '-5', '1.5', 'soon', '1e3']) {
    const r = run(['add', 'clinet', '/var/run/netns/t3-to'], { CNI_TIMEOUT_MS: bad });
    assert.is(r.code, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /CNI_TIMEOUT_MS must be a whole number of milliseconds from 1 to 2147483647/);
    assert.match(r.stderr, JSON.stringify(bad));
  }
  assert.is(f.calls().length, 0);
  const ok = run(['add', 'clinet', '/var/run/netns/t3-to'], { CNI_TIMEOUT_MS: '2147483647' });
  assert.is(ok.code, 0, ok.stderr);
});

test('cli: gc with a CNI_GC_VALID that is JSON but not an array of attachments is refused (exit 2), nothing deleted', () => {
  const { f, run } = setup();
  const ns = '/var/run/netns/t3-gcv';
  assert.is(run(['add', 'clinet', ns]).code, 0);
  const calls = f.calls().length;
  for (const bad of ['{}', '"eth0"', '42', 'null', '[1]', '[null]', '[{"containerID":"a"}]', '[{"containerID":1,"ifname":"eth0"}]']) {
    const r = run(['gc', 'clinet'], { CNI_GC_VALID: bad });
    assert.is(r.code, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /CNI_GC_VALID(\[\d+\])? must be/);
    assert.not.match(r.stderr, /TypeError/);
  }
  const notJson = run(['gc', 'clinet'], { CNI_GC_VALID: '[{' });
  assert.is(notJson.code, 2);
  assert.match(notJson.stderr, /CNI_GC_VALID is not valid JSON/);
  assert.is(f.calls().length, calls, 'no plugin ran');
  assert.ok(existsSync(cachedResult(f.cacheDir, 'clinet', cnitoolContainerId(ns), 'eth0')), 'the attachment is still cached');
  const keep = run(['gc', 'clinet'], { CNI_GC_VALID: JSON.stringify([{ containerID: cnitoolContainerId(ns), ifname: 'eth0' }]) });
  assert.is(keep.code, 0, keep.stderr);
  assert.ok(existsSync(cachedResult(f.cacheDir, 'clinet', cnitoolContainerId(ns), 'eth0')), 'a valid attachment is kept');
});

test.run();
