import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { recordingExec, runcDir, runcKnows, runcState } from '../../src/index.js';

test('runc state: asked only when runc keeps state.json for the id; its answer parsed', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'runc-root-'));
  try {
    const exec = recordingExec(() => ({ stdout: JSON.stringify({ id: 'c1', pid: 42, status: 'running', bundle: '/b' }) }));
    mkdirSync(runcDir(root, 'c1'));
    assert.not.ok(runcKnows(root, 'c1'), 'a folder without state.json (a killed create) is not known');
    assert.is(await runcState(exec, root, 'c1'), undefined);
    assert.equal(exec.calls, [], 'no process for an unknown id');
    writeFileSync(path.join(runcDir(root, 'c1'), 'state.json'), '{}');
    assert.ok(runcKnows(root, 'c1'));
    assert.equal(await runcState(exec, root, 'c1'), { id: 'c1', pid: 42, status: 'running', bundle: '/b' });
    assert.equal(exec.calls[0]?.argv, ['runc', '--root', root, 'state', 'c1']);
    const gone = recordingExec(() => ({ exitCode: 1 }));
    assert.is(await runcState(gone, root, 'c1'), undefined, 'runc does not know it after all');
    const garbage = recordingExec(() => ({ stdout: '{"pid":"1; rm"}' }));
    assert.is(await runcState(garbage, root, 'c1'), undefined, 'an answer of the wrong shape counts as none');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('rootless: runc runs as the user, and a link in its state folder is not followed even to look', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'runc-root-'));
  try {
    const user = { name: 'u', uid: 1234, gid: 2345, home: '/' };
    const exec = recordingExec(() => ({ stdout: JSON.stringify({ id: 'c1', pid: 42, status: 'running', bundle: '/b' }) }));
    mkdirSync(runcDir(root, 'c1'));
    writeFileSync(path.join(runcDir(root, 'c1'), 'state.json'), '{}');
    await runcState(exec, root, 'c1', user);
    assert.equal(exec.calls[0]?.argv, [
      'setpriv',
      '--reuid',
      '1234',
      '--regid',
      '2345',
      '--clear-groups',
      '--',
      'runc',
      '--root',
      root,
      'state',
      'c1',
    ]);
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'runc-elsewhere-'));
    writeFileSync(path.join(elsewhere, 'state.json'), '{}');
    symlinkSync(elsewhere, runcDir(root, 'c2'));
    assert.not.ok(runcKnows(root, 'c2'));
    rmSync(elsewhere, { recursive: true, force: true });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
