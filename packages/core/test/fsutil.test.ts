import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { replaceFile, writeFileAtomic } from '../src/index.js';

test('fsutil: replaceFile replaces the whole file under a new inode, with its mode, and leaves no temp file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fsu-'));
  try {
    const file = path.join(dir, 'report.json');
    writeFileSync(file, 'old content that is longer than the new one');
    const before = statSync(file).ino;
    replaceFile(file, 'new', 0o640);
    assert.is(readFileSync(file, 'utf8'), 'new');
    assert.is(statSync(file).mode & 0o777, 0o640);
    // a rename, not a rewrite: a reader holding the old file never sees it torn
    assert.is.not(statSync(file).ino, before);
    replaceFile(file, Buffer.from('bytes'));
    assert.is(readFileSync(file, 'utf8'), 'bytes');
    assert.equal(readdirSync(dir), ['report.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fsutil: replaceFile into a missing folder throws and leaves nothing; writeFileAtomic makes the folder', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fsu-'));
  try {
    assert.throws(() => replaceFile(path.join(dir, 'nope', 'a.md'), 'x'), /ENOENT/);
    assert.equal(readdirSync(dir), []);
    writeFileAtomic(path.join(dir, 'made', 'a.json'), '{}');
    assert.is(readFileSync(path.join(dir, 'made', 'a.json'), 'utf8'), '{}');
    assert.is(statSync(path.join(dir, 'made')).mode & 0o777, 0o700);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
