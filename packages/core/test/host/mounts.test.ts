import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isMountPoint, linkViaProc, mountPoints, pinMatches, realMountPath } from '../../src/index.js';

test('mount points come from mountinfo, compared as real paths', () => {
  assert.ok(mountPoints().includes('/proc'));
  assert.ok(isMountPoint('/proc'));
  const root = mkdtempSync(path.join(os.tmpdir(), 'mounts-'));
  try {
    mkdirSync(path.join(root, 'real'));
    symlinkSync(path.join(root, 'real'), path.join(root, 'link'));
    assert.is(realMountPath(path.join(root, 'link', 'pin')), path.join(root, 'real', 'pin'));
    writeFileSync(path.join(root, 'real', 'pin'), '');
    assert.not.ok(isMountPoint(path.join(root, 'link', 'pin')), 'a plain file is no mount');
    assert.not.ok(pinMatches(path.join(root, 'real', 'pin'), process.pid), 'an unmounted pin holds no netns');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('linkViaProc: answers from /proc when the pid is in the pinned netns, and only then', () => {
  const own = `/proc/${process.pid}/ns/net`;
  assert.is(linkViaProc(process.pid, own, 'lo'), true);
  assert.is(linkViaProc(process.pid, own, 'ar0nolink'), false);
  // the pid's netns is not the "pin's" (a file that is no namespace): cannot tell this way
  assert.is(linkViaProc(process.pid, '/proc/self/status', 'lo'), undefined);
});

test.run();
