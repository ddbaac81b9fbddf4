import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createExec } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatFree, MIN_FREE, roomAt } from '../src/disk.js';

/** roomAt against real filesystems: small tmpfs mounts filled with data, or with files until no inode is left. */
const exec = createExec();

async function withTmpfs(opts: string, fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'disk-room-'));
  await exec('mount', ['-t', 'tmpfs', '-o', opts, 'prdisk', dir]);
  try {
    await fn(dir);
  } finally {
    await exec('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an empty 8 MiB filesystem has room; filled to its last block it is full', async () => {
  await withTmpfs('size=8m', (dir) => {
    const empty = roomAt(dir);
    assert.is(empty?.full, false);
    assert.ok((empty?.freeBytes ?? 0) >= 8 * 1024 * 1024 - 64 * 1024, `about 8 MiB free: ${empty?.freeBytes}`);
    // write until the kernel refuses (ENOSPC), as an unpack that ran out would
    try {
      for (let i = 0; ; i++) writeFileSync(path.join(dir, `f${i}`), Buffer.alloc(256 * 1024));
    } catch (e) {
      assert.is((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    const full = roomAt(dir);
    assert.is(full?.full, true);
    assert.ok((full?.freeBytes ?? MIN_FREE) < MIN_FREE);
    assert.match(formatFree(full ?? { freeBytes: 0, freeInodes: 0, full: true }), /^\d+ KiB free/);
  });
});

test('a filesystem with blocks but no inode left is full', async () => {
  await withTmpfs('size=8m,nr_inodes=16', (dir) => {
    try {
      for (let i = 0; ; i++) mkdirSync(path.join(dir, `d${i}`));
    } catch (e) {
      assert.is((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    const r = roomAt(dir);
    assert.is(r?.freeInodes, 0);
    assert.is(r?.full, true);
    assert.match(formatFree(r ?? { freeBytes: 0, freeInodes: 0, full: true }), /no inode left/);
  });
});

test('a folder that does not exist: nothing can be told', () => {
  assert.is(roomAt('/nonexistent/disk-room'), undefined);
});

test.run();
