import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StateStore, UserError } from '../src/index.js';

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

test.run();
