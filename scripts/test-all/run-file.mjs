#!/usr/bin/env node
// Runs one compiled uvu test file for test-all.mjs, in a process of its own (so a hang can be stopped and
// named). Usage: node run-file.mjs <test file> <events file>
// The test file gets uvu through uvu-guard.mjs; this runs the suites uvu queued, one by one, the way uvu's
// `exec` does (its runner prints the suite lines and the FAIL blocks), and appends what happened to the
// events file, one JSON object a line, written at once so that a crash, a process.exit() in a test or a
// kill by the time limit still leaves everything up to that moment:
//   {t:'suite', suite, total}          a suite starts (total: the tests uvu will run)
//   {t:'test', index, test}            a test starts
//   {t:'error', where, test?, message, stack}   where: test | before | before.each | after | after.each | load | runner
//   {t:'end', passed, skipped, total}  the suite ended; uvu's own counts
//   {t:'pending', suite, tests}        tests registered on a suite whose run() was never called
//   {t:'exit', code}                   the process is exiting before the file finished (process.exit in a test)
//   {t:'done'}                         every suite ran and the file is finished
import { appendFileSync } from 'node:fs';
import module from 'node:module';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';

const [file, eventsFile] = process.argv.slice(2);
if (!file || !eventsFile) {
  process.stderr.write('usage: node run-file.mjs <test file> <events file>\n');
  process.exit(2);
}
const emit = (event) => appendFileSync(eventsFile, `${JSON.stringify(event)}\n`);

// a value uvu can format: an Error with a name, a message and a stack (anything else makes its formatter throw)
function normalize(err) {
  const ok = err !== null && typeof err === 'object' && ['name', 'message', 'stack'].every((k) => typeof err[k] === 'string');
  if (ok) return err;
  const e = new Error(`threw a value that is not an Error: ${inspect(err, { depth: 2 })}`);
  if (err !== null && typeof err === 'object' && 'actual' in err) Object.assign(e, { actual: err.actual, expected: err.expected });
  return e;
}

// frames of test-all's own wrappers and of uvu's runner say nothing about the test; uvu prints the rest
const OWN_FRAME = /scripts[\\/]test-all[\\/]|[\\/]uvu[\\/]dist[\\/]/;
function trimStack(e) {
  try {
    e.stack = e.stack
      .split('\n')
      .filter((line) => !(/^\s+at /.test(line) && OWN_FRAME.test(line)))
      .join('\n');
  } catch {
    // a frozen error keeps its stack
  }
  return e;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: it strips the ANSI colour codes uvu prints
const ANSI = /\x1b\[[0-9;]*m/g;

const runs = [];
const tracked = [];
let current = null;

globalThis.__testAllRecorder = {
  queued: (suite, fn, total) => runs.push({ suite, fn, total }),
  track: (suite, pending) => tracked.push({ suite, pending }),
  testStart(index, test) {
    if (current) Object.assign(current, { index, test });
    emit({ t: 'test', index, test });
  },
  error(where, err) {
    const e = trimStack(normalize(err));
    const inTest = where === 'test' || where === 'before.each' || where === 'after.each';
    emit({
      t: 'error',
      where,
      ...(inTest && current?.test !== undefined ? { test: current.test } : {}),
      message: e.message,
      stack: e.stack,
    });
    if (!current) return e;
    if (!inTest) current.hookErrors.push({ where, e });
    else if (current.failedTests.at(-1)?.index !== current.index)
      current.failedTests.push({ index: current.index, test: current.test, where, e });
    return e;
  },
};

let finished = false;
process.on('exit', (code) => {
  // a test called process.exit(), or the event loop emptied while a test still awaited something
  if (finished) return;
  emit({ t: 'exit', code });
  process.exitCode = code || 1;
});

const hooks = new URL('./resolve-uvu.mjs', import.meta.url);
if (typeof module.registerHooks === 'function') module.registerHooks({ resolve: (await import(hooks)).resolve });
else module.register(hooks);

globalThis.UVU_DEFER = 1; // uvu queues suites instead of running them at once
globalThis.UVU_QUEUE = [[null]];
globalThis.UVU_INDEX = 0;

try {
  await import(pathToFileURL(file).href);
} catch (err) {
  const e = normalize(err);
  emit({ t: 'error', where: 'load', message: e.message, stack: e.stack });
  process.stdout.write(`\n  the file could not be loaded:\n    ${e.stack.split('\n').join('\n    ')}\n`);
  finished = true;
  process.exit(1);
}

const unguarded = globalThis.UVU_QUEUE[0].length - 1;
if (unguarded > 0) emit({ t: 'error', where: 'runner', message: `${unguarded} suites were queued without test-all's guard` });

let failed = unguarded > 0;
for (const run of runs) {
  current = { suite: run.suite, index: -1, test: undefined, hookErrors: [], failedTests: [] };
  emit({ t: 'suite', suite: run.suite, total: run.total });
  let result;
  try {
    result = await run.fn();
  } catch (err) {
    // uvu's runner rejects only when a hook in its finally throws; the guard catches `after` errors, so
    // this is uvu itself failing
    const e = normalize(err);
    emit({ t: 'error', where: 'runner', message: e.message, stack: e.stack });
    current.hookErrors.push({ where: 'runner', e });
  }
  if (result) {
    const [errors, passed, skipped, total] = result;
    if (typeof errors === 'string') process.stdout.write(`\n${errors}\n`);
    emit({ t: 'end', passed, skipped, total });
    if (typeof errors === 'string' || skipped > 0 || passed < total) failed = true;
    // uvu drops the failure that ends a suite early (an after.each that throws on a failed test): at most
    // the last failed test is missing from its FAIL blocks
    const reported = typeof errors === 'string' ? (errors.replace(ANSI, '').match(/^ {1,3}FAIL /gm) ?? []).length : 0;
    for (const f of current.failedTests.slice(reported)) {
      const name = [run.suite, `"${f.test}"`].filter(Boolean).join(' › ');
      process.stdout.write(`\n  FAIL (not reported by uvu)  ${name}, in its ${f.where}\n    ${f.e.stack.split('\n').join('\n    ')}\n\n`);
    }
  }
  for (const { where, e } of current.hookErrors) {
    failed = true;
    const name = run.suite ? `suite "${run.suite}"` : "the file's default suite (test)";
    process.stdout.write(`\n  HOOK ERROR  ${name}: its ${where} hook threw\n    ${e.stack.split('\n').join('\n    ')}\n\n`);
  }
}
current = null;
for (const { suite, pending } of tracked) {
  const tests = pending();
  if (tests > 0) {
    failed = true;
    emit({ t: 'pending', suite, tests });
  }
}
emit({ t: 'done' });
finished = true;
// a code a test set itself stays, so that test-all sees it
if (failed) process.exitCode = 1;
