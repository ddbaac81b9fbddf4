import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Config, createExec, isMountPoint } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forceTeardown, withCleanup } from '../src/cleanup.js';
import { tag } from '../src/index.js';

test('withCleanup reports the failed body, with the cleanup failure added; cleanup still runs every step', async () => {
  const ran: string[] = [];
  try {
    await withCleanup(async (c) => {
      c.add('first', () => {
        ran.push('first');
      });
      c.add('broken', () => {
        ran.push('broken');
        throw new Error('EBUSY');
      });
      throw new Error('the assertion that failed');
    });
    assert.unreachable('withCleanup must throw');
  } catch (e) {
    assert.match((e as Error).message, /^the assertion that failed\n\(and then cleanup failed:\nbroken: EBUSY\)$/);
  }
  assert.equal(ran, ['broken', 'first'], 'every step, in reverse order');
});

test('withCleanup with a passing body throws the cleanup failure', async () => {
  try {
    await withCleanup(async (c) => {
      c.add('broken', () => {
        throw new Error('EBUSY');
      });
    });
    assert.unreachable('withCleanup must throw');
  } catch (e) {
    assert.is((e as Error).message, 'cleanup failed:\nbroken: EBUSY');
  }
});

test('forceTeardown unmounts what is mounted under the instance state folder (an overlay left by a failed test)', async () => {
  const exec = createExec();
  const root = mkdtempSync(path.join(os.tmpdir(), 'testkit-teardown-'));
  const stateDir = path.join(root, 'state');
  const mount = path.join(stateDir, `t6tk-${tag(3)}`, 'rootfs');
  mkdirSync(mount, { recursive: true });
  try {
    await exec('mount', ['-t', 'tmpfs', 't6tk', mount]);
    assert.ok(isMountPoint(mount));
    const config = {
      stateDir,
      runcRoot: path.join(root, 'runc'),
      netnsDir: path.join(root, 'netns'),
      bridge: `t6tk${tag(2)}`,
      network: `t6tknet${tag(2)}`,
      id: 't6tk',
      containers: 1,
      subnet4: '172.26.252.0/24',
      subnet6: 'fd00:c1d:26fc::/64',
    } as unknown as Config;
    await forceTeardown(config, exec, ['t6tk']);
    assert.not.ok(isMountPoint(mount), 'the mount is gone');
  } finally {
    while (isMountPoint(mount)) await exec('umount', [mount], { allowFail: true });
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
