import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readTimings, runStep, type StepOutcome, UserError } from '../src/index.js';

const timingsJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/timings.js');

/** Runs runStep with stdout captured: what a --json consumer would read. */
async function captured(fn: () => Promise<number>): Promise<{ code: number; stdout: string }> {
  const write = process.stdout.write.bind(process.stdout);
  let stdout = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await fn(), stdout };
  } finally {
    process.stdout.write = write;
    process.exitCode = 0;
  }
}

test('runStep: records its duration and with --json prints exactly one JSON line on stdout', async () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'rs-'));
  mkdirSync(path.join(stateDir, 'tj'), { recursive: true });
  const argv = ['--state-dir', stateDir, '--id', 'tj', '--json'];
  const ok = await captured(() =>
    runStep({
      step: 'cni-attach',
      action: 'up',
      argv,
      run: async (ctx) => {
        ctx.log.info('human text goes to stderr');
        return { ipv4: '10.0.0.2' };
      },
    }),
  );
  assert.is(ok.code, 0);
  const lines = ok.stdout.trimEnd().split('\n');
  assert.is(lines.length, 1);
  const o = JSON.parse(lines[0] ?? '') as StepOutcome;
  assert.is(o.step, 'cni-attach');
  assert.is(o.ok, true);
  assert.equal(o.result, { ipv4: '10.0.0.2' });
  assert.ok(o.durationMs >= 0);

  const bad = await captured(() =>
    runStep({
      step: 'verify',
      action: 'up',
      argv,
      run: async () => {
        throw new UserError('2 of 8 checks failed', { hint: 'look at report.md' });
      },
    }),
  );
  assert.is(bad.code, 1);
  const b = JSON.parse(bad.stdout.trim()) as StepOutcome;
  assert.is(b.ok, false);
  assert.equal(b.error, { message: '2 of 8 checks failed', hint: 'look at report.md' });

  const t = readTimings(path.join(stateDir, 'tj'));
  assert.equal(
    t.map((x) => [x.step, x.action, x.ok]),
    [
      ['cni-attach', 'up', true],
      ['verify', 'up', false],
    ],
  );

  // without --json nothing reaches stdout from runStep itself; recordTiming: false records nothing
  const quiet = await captured(() =>
    runStep({ step: 'verify', action: 'up', argv: argv.slice(0, 4), recordTiming: false, run: async () => 1 }),
  );
  assert.is(quiet.stdout, '');
  assert.is(readTimings(path.join(stateDir, 'tj')).length, 2);
});

test('runStep: a wrong command line exits 2 and runs nothing; a failed run exits 1', async () => {
  let ran = false;
  const usage = await captured(() =>
    runStep({
      step: 'verify',
      action: 'up',
      argv: ['--no-such-flag'],
      run: async () => {
        ran = true;
      },
    }),
  );
  assert.is(usage.code, 2);
  assert.not.ok(ran, 'nothing was tried');
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'rs-'));
  const failed = await captured(() =>
    runStep({
      step: 'verify',
      action: 'up',
      argv: ['--state-dir', stateDir, '--id', 'tf'],
      recordTiming: false,
      run: async () => {
        throw new Error('boom');
      },
    }),
  );
  assert.is(failed.code, 1);
});

test.run();
