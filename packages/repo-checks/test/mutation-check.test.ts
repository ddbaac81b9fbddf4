import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * scripts/mutation-check.mjs is too long for the gate (it rebuilds and runs end-to-end tests per mutation), but
 * each of its mutations names a text in the code that must be there exactly once, and tests that must exist: a
 * refactor that moves that text would leave a mutation that no longer breaks anything. `--list` says so.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const SCRIPT = path.join(repoRoot, 'scripts', 'mutation-check.mjs');
const list = (script: string) => spawnSync(process.execPath, [script, '--list'], { encoding: 'utf8' });

test('every mutation of scripts/mutation-check.mjs still fits the code it breaks and names tests that exist', () => {
  const r = list(SCRIPT);
  const names = r.stdout.split('\n').filter((l) => /^\S/.test(l));
  assert.ok(names.length >= 10, `the mutations listed:\n${r.stdout}`);
  assert.equal(
    r.stdout.split('\n').filter((l) => l.includes('DOES NOT FIT')),
    [],
    'mutations that no longer fit',
  );
  assert.is(r.status, 0, r.stderr);
});

test('--list fails, naming the cause, in a tree where the mutated texts are not there', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mutation-list-'));
  try {
    mkdirSync(path.join(root, 'scripts'));
    copyFileSync(SCRIPT, path.join(root, 'scripts', 'mutation-check.mjs'));
    const r = list(path.join(root, 'scripts', 'mutation-check.mjs'));
    assert.is(r.status, 1);
    assert.match(r.stdout, 'a verify check that always passes\n');
    assert.match(r.stdout, 'DOES NOT FIT: packages/verify/src/checks.ts is missing');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
