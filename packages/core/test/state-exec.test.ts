import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandError, createExec, parseCidr, prefixesOverlap, quoteArgv, recordingExec, StateStore, UserError } from '../src/index.js';

test('state: atomic write, 0600 file in a 0700 folder, read back', () => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'st-')), 'inst');
  const s = new StateStore(dir);
  s.write('host-setup', { a: 1 });
  assert.equal(s.read('host-setup'), { a: 1 });
  assert.is(statSync(s.file('host-setup')).mode & 0o777, 0o600);
  assert.is(statSync(dir).mode & 0o777, 0o700);
  s.remove('host-setup');
  assert.is(s.read('host-setup'), undefined);
});

test('state: the instance folder goes with its last state file, timings included', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'st-'));
  const s = new StateStore(path.join(root, 'state', 'inst'));
  s.write('host-setup', { a: 1 });
  writeFileSync(path.join(s.dir, 'timings.jsonl'), '{"step":"host-setup"}\n');
  s.remove('host-setup');
  s.removeDirIfEmpty();
  assert.not.ok(existsSync(s.dir), 'instance folder removed');
  assert.not.ok(existsSync(path.join(root, 'state')), 'empty state root removed');
});

test('state: a missing previous step is a clear stop naming the step to run', () => {
  const s = new StateStore(mkdtempSync(path.join(os.tmpdir(), 'st-')));
  try {
    s.require('runc-bundle', 'cni-attach');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, UserError);
    assert.match((e as UserError).message, /cni-attach needs runc-bundle/);
    assert.match((e as UserError).hint ?? '', /run runc-bundle first/);
  }
});

test('state: a corrupt file is named', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'st-'));
  const s = new StateStore(dir);
  writeFileSync(s.file('verify'), '{not json');
  assert.throws(() => s.read('verify'), /verify.json is corrupt/);
});

test('exec: a failing command gives argv to paste, exit code and stderr tail', async () => {
  const exec = createExec();
  try {
    await exec('sh', ['-c', 'echo "first line" >&2; echo "it broke" >&2; exit 3']);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CommandError);
    const ce = e as CommandError;
    assert.is(ce.exitCode, 3);
    assert.match(ce.message, /exited with code 3/);
    assert.match(ce.message, /sh -c 'echo "first line" >&2; echo "it broke" >&2; exit 3'/);
    assert.match(ce.message, /it broke/);
  }
});

test('exec: a missing command is reported as not found', async () => {
  try {
    await createExec()('no-such-command-cni-demo', []);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CommandError);
    assert.match((e as Error).message, /command not found/);
  }
});

test('exec: allowFail resolves; stdin is passed; timeout kills', async () => {
  const exec = createExec();
  const r = await exec('sh', ['-c', 'exit 4'], { allowFail: true });
  assert.is(r.exitCode, 4);
  const cat = await exec('cat', [], { input: 'hello' });
  assert.is(cat.stdout, 'hello');
  try {
    await exec('sleep', ['5'], { timeoutMs: 200 });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /timed out/);
  }
});

test('exec: the recorder keeps argv, env and stdin', async () => {
  const rec = recordingExec((argv) => (argv[0] === 'false' ? { exitCode: 1 } : { stdout: 'ok' }));
  const r = await rec('ip', ['link', 'show'], { env: { A: '1' }, input: 'x' });
  assert.is(r.stdout, 'ok');
  assert.equal(rec.calls[0]?.argv, ['ip', 'link', 'show']);
  assert.equal(rec.calls[0]?.opts.env, { A: '1' });
  assert.is(rec.calls[0]?.opts.input, 'x');
  try {
    await rec('false');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CommandError);
  }
});

test('quoting makes pasteable commands', () => {
  assert.is(quoteArgv(['ip', 'addr', 'add', '10.0.0.1/24']), 'ip addr add 10.0.0.1/24');
  assert.is(quoteArgv(['sh', '-c', "it's"]), `sh -c 'it'\\''s'`);
  assert.is(quoteArgv(['']), "''");
});

test('CIDR parsing and overlap, v4 and v6', () => {
  const a = parseCidr('192.168.199.0/24');
  const b = parseCidr('192.168.0.0/16');
  const c = parseCidr('192.168.200.0/24');
  assert.ok(a && b && c);
  assert.ok(prefixesOverlap(a!, b!));
  assert.not.ok(prefixesOverlap(a!, c!));
  const v6a = parseCidr('fde4:8dba:82e1::/64');
  const v6b = parseCidr('fde4:8dba:82e1::1/128');
  const v6c = parseCidr('fde4:8dba:82e2::/64');
  assert.ok(prefixesOverlap(v6a!, v6b!));
  assert.not.ok(prefixesOverlap(v6a!, v6c!));
  assert.is(parseCidr('300.1.1.1/24'), undefined);
  assert.is(parseCidr('10.0.0.0/33'), undefined);
  assert.is(parseCidr('::/129'), undefined);
});

test.run();
