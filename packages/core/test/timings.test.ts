import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readTimings, recordTiming, TIMINGS_FILE } from '../src/index.js';

const timingsJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/timings.js');

test('timings: steps appending from separate processes at once never tear or lose a line', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tm-'));
  const script = `import { recordTiming } from ${JSON.stringify(timingsJs)};
for (let i = 0; i < 300; i++) recordTiming(process.argv[1], { step: 'host-setup', action: 'up', startedAt: new Date().toISOString(), durationMs: i, ok: true });`;
  await Promise.all(
    [0, 1, 2, 3].map(
      () =>
        new Promise<void>((resolve, reject) => {
          const c = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: 'inherit' });
          c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}`))));
        }),
    ),
  );
  const lines = readFileSync(path.join(dir, TIMINGS_FILE), 'utf8').trimEnd().split('\n');
  assert.is(lines.length, 1200);
  for (const l of lines) JSON.parse(l);
  assert.is(readTimings(dir).length, 1200);
});

test('timings: nothing is written (and no folder made) when the run folder does not exist', () => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'tm-')), 'gone');
  recordTiming(dir, { step: 'verify', action: 'down', startedAt: '', durationMs: 1, ok: true });
  assert.equal(readTimings(dir), []);
});

test.run();
