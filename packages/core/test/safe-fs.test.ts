import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createExec } from '../src/exec.js';
import { lookupUser } from '../src/rootless.js';
import { readFileInRoot, removeTree, rootOwnedDir, UserError, writeFileNoFollow } from '../src/index.js';

const exec = createExec();
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'core-safe-fs-'));

test('rootOwnedDir makes a root folder, and refuses a link, a folder someone else owns, or a parent others can write', () => {
  const root = tmp();
  try {
    const dir = path.join(root, 'a');
    rootOwnedDir(dir, 0o750, 7);
    assert.is(statSync(dir).mode & 0o7777, 0o750);
    assert.is(statSync(dir).gid, 7);
    rootOwnedDir(dir, 0o700); // again: checked, mode set
    assert.is(statSync(dir).mode & 0o7777, 0o700);

    const target = path.join(root, 'target');
    mkdirSync(target);
    symlinkSync(target, path.join(root, 'link'));
    assert.throws(
      () => rootOwnedDir(path.join(root, 'link'), 0o700),
      (e: unknown) => e instanceof UserError && /symlink/.test(e.message),
    );

    mkdirSync(path.join(root, 'theirs'));
    chownSync(path.join(root, 'theirs'), 65534, 65534);
    assert.throws(
      () => rootOwnedDir(path.join(root, 'theirs'), 0o700),
      (e: unknown) => e instanceof UserError && /uid 65534/.test(e.message),
    );
    assert.is(lstatSync(path.join(root, 'theirs')).uid, 65534, 'not taken over');

    const open = path.join(root, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.throws(
      () => rootOwnedDir(path.join(open, 'x'), 0o700),
      (e: unknown) => e instanceof UserError && /not a folder only root/.test(e.message),
    );
    assert.not.ok(existsSync(path.join(open, 'x')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('writeFileNoFollow writes through no link and into no FIFO; the target is untouched', async () => {
  const root = tmp();
  try {
    const victim = path.join(root, 'victim');
    writeFileSync(victim, 'keep me', { mode: 0o600 });
    const link = path.join(root, 'file');
    symlinkSync(victim, link);
    assert.throws(
      () => writeFileNoFollow(link, 'x'),
      (e: unknown) => (e as NodeJS.ErrnoException).code === 'ELOOP',
    );
    assert.is(readFileSync(victim, 'utf8'), 'keep me');
    await exec('mkfifo', [path.join(root, 'fifo')]);
    // no reader: opening fails at once (O_NONBLOCK) instead of waiting; with one, the type check refuses it
    assert.throws(() => writeFileNoFollow(path.join(root, 'fifo'), 'x'));
    writeFileNoFollow(path.join(root, 'ok'), 'hello', 0o640, { uid: 0, gid: 5 });
    assert.is(readFileSync(path.join(root, 'ok'), 'utf8'), 'hello');
    assert.is(statSync(path.join(root, 'ok')).mode & 0o777, 0o640);
    assert.is(statSync(path.join(root, 'ok')).gid, 5);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("readFileInRoot resolves links inside the tree (chroot semantics): an image's etc -> /etc never reads the host's", () => {
  const root = tmp();
  try {
    const rootfs = path.join(root, 'rootfs');
    mkdirSync(path.join(rootfs, 'usr/lib'), { recursive: true });
    writeFileSync(path.join(rootfs, 'usr/lib/passwd'), 'img:x:5:5::/:/bin/sh\n');
    // absolute and relative links that climb out: resolved inside the rootfs
    symlinkSync('/usr/lib', path.join(rootfs, 'etc'));
    assert.is(readFileInRoot(rootfs, 'etc/passwd'), 'img:x:5:5::/:/bin/sh\n');
    rmSync(path.join(rootfs, 'etc'));
    symlinkSync('../../../../../../usr/lib', path.join(rootfs, 'etc'));
    assert.is(readFileInRoot(rootfs, 'etc/passwd'), 'img:x:5:5::/:/bin/sh\n');
    assert.is(readFileInRoot(rootfs, '../../../../etc/passwd'), 'img:x:5:5::/:/bin/sh\n');
    // etc -> /etc: the image's own /etc, which is this very link: a loop, so nothing (never the host's)
    rmSync(path.join(rootfs, 'etc'));
    symlinkSync('/etc', path.join(rootfs, 'etc'));
    assert.is(readFileInRoot(rootfs, 'etc/passwd'), undefined);
    // a file that is a link to the host's file: resolved inside, absent there
    rmSync(path.join(rootfs, 'etc'));
    mkdirSync(path.join(rootfs, 'etc'));
    symlinkSync('/etc/shadow', path.join(rootfs, 'etc/shadow'));
    assert.is(readFileInRoot(rootfs, 'etc/shadow'), undefined);
    // not a regular file
    assert.is(readFileInRoot(rootfs, 'usr'), undefined);
    // bounded
    writeFileSync(path.join(rootfs, 'big'), 'x'.repeat(5000));
    assert.is(readFileInRoot(rootfs, 'big', 100)?.length, 100);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("removeTree removes the user's part as the user: a link it planted to a root file is removed, not followed", async () => {
  const prefix = process.env.CNI_TEST_PREFIX || 't';
  const name = `${prefix}c${randomBytes(3).toString('hex')}`;
  await exec('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  const root = tmp();
  try {
    const user = lookupUser(name);
    if (!user) throw new Error('no user');
    chmodSync(root, 0o711);
    const canary = path.join(root, 'canary');
    mkdirSync(canary, { mode: 0o700 });
    writeFileSync(path.join(canary, 'secret'), 'root only');
    const top = path.join(root, 'instance');
    rootOwnedDir(top, 0o750, user.gid);
    writeFileSync(path.join(top, 'config.json'), '{}');
    const theirs = path.join(top, 'rootfs');
    mkdirSync(path.join(theirs, 'ro'), { recursive: true });
    writeFileSync(path.join(theirs, 'ro', 'f'), 'x');
    symlinkSync(canary, path.join(theirs, 'to-canary'));
    await exec('chown', ['-R', '-h', `${user.uid}:${user.gid}`, theirs]);
    chmodSync(path.join(theirs, 'ro'), 0o555); // a folder the user cannot write: made writable as the user first
    await removeTree(exec, top, user);
    assert.not.ok(existsSync(top), 'the tree is gone');
    assert.is(readFileSync(path.join(canary, 'secret'), 'utf8'), 'root only', 'the canary is untouched');

    // a third party's folder is left, and named in the error
    const other = path.join(root, 'other');
    rootOwnedDir(other, 0o750, user.gid);
    mkdirSync(path.join(other, 'x'));
    chownSync(path.join(other, 'x'), 65534, 65534);
    let error: unknown;
    try {
      await removeTree(exec, other, user);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof UserError && error.message.includes(path.join(other, 'x')), String(error));
    assert.ok(existsSync(path.join(other, 'x')));
  } finally {
    rmSync(root, { recursive: true, force: true });
    await exec('userdel', [name], { allowFail: true });
  }
});

test.run();
