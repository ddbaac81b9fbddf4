import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommandError, createExec } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startLogKeeper } from '../src/log-keeper.js';

/**
 * The keeper of the containers' output (issue 14, item 4): whatever a process writes, the log and its one
 * older file together stay under the cap, the newest output is what is kept, and a failing command's own
 * words still reach its error.
 */
const exec = createExec();

function output(keeper: ReturnType<typeof startLogKeeper>, i: number) {
  return {
    to: keeper.pipe(i),
    tail: () => {
      keeper.close(i);
      return keeper.tail(i);
    },
  };
}

test('a process writing far more than the cap leaves at most the cap on disk, newest output kept', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rb-log-'));
  try {
    const logs = [path.join(dir, 'a.log'), path.join(dir, 'b.log')];
    const max = 64 * 1024;
    const keeper = startLogKeeper(logs, max);
    // ~590 KB of numbered lines into the first log; nothing into the second
    await exec('seq', ['1', '100000'], { output: output(keeper, 0) });
    keeper.close(0);
    keeper.close(1);
    await keeper.tail(0);
    await keeper.tail(1);
    keeper.release();
    const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
    assert.ok(
      size(logs[0] ?? '') <= max / 2 && size(`${logs[0]}.1`) <= max / 2,
      `each file at most half: ${size(logs[0] ?? '')}, ${size(`${logs[0]}.1`)}`,
    );
    assert.ok(size(logs[0] ?? '') + size(`${logs[0]}.1`) > 0);
    assert.match(readFileSync(logs[0] ?? '', 'utf8'), /\n100000\n$/, 'the newest output is kept');
    assert.not.match(readFileSync(`${logs[0]}.1`, 'utf8'), /^1\n2\n3\n/, 'the oldest is dropped');
    assert.not.ok(existsSync(logs[1] ?? ''), 'a container that wrote nothing gets no file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a failing command's own messages come back in its error", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rb-log-'));
  try {
    const keeper = startLogKeeper([path.join(dir, 'c.log')], 64 * 1024);
    let error: unknown;
    try {
      await exec('sh', ['-c', 'echo "container id exists" >&2; exit 3'], { output: output(keeper, 0) });
    } catch (e) {
      error = e;
    }
    keeper.release();
    assert.ok(error instanceof CommandError && error.exitCode === 3, String(error));
    assert.match((error as CommandError).stderr, /container id exists/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
