#!/usr/bin/env node
// The test gate. Runs every package's compiled uvu test files (packages/*/dist/test/**/*.test.js), one
// process per file and one file at a time, and ends with the one line CI reads: "N passed, N failed".
// Exit code 1 on any failure.
//
//   node scripts/test-all.mjs [package-filter [file-filter]]
//     package-filter: part of a folder name under packages/ ("core")
//     file-filter:    a regular expression on the test's source path under test/ ("e2e/", "state-exec")
//   CNI_TEST_FILE_TIMEOUT_S  time limit for one test file, in seconds (default below)
//   --root <dir>             the repository to test (test-all's own tests point it at fixture repositories)
//
// What counts as a failure is what went wrong, each counted once, never a difference of totals:
// - a test that threw (in its body or its before.each/after.each hooks), named with its suite;
// - a suite whose before/after hook threw (uvu 0.5.6 drops that error; test-all/uvu-guard.mjs catches it),
//   or whose tests did not all run;
// - tests skipped with .only/.skip (the gate runs every test; a repo check also rejects them in commits);
// - a file that could not be loaded, registered tests it never ran, defines no tests, stopped before it
//   finished (process.exit, crash), exceeded its time limit (named, with the test it was in), or exited
//   non-zero with nothing else wrong;
// - a test source with no compiled file (not built), a compiled test whose source is gone (stale), and a
//   filter that ran nothing;
// - a file that changed the forwarding sysctls of the gate's network namespace while no instance held them in
//   the host record (test-all/forwarding.mjs): the suite leaves them as it found them.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { judgeForwarding, loadRecord, noteForwarding } from './test-all/forwarding.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const runFile = path.join(here, 'test-all', 'run-file.mjs');
// The slowest real file (cli's faults.test.ts) took about a minute at load 10 on a shared 2-core machine,
// and the slowest suites have taken about 4 minutes under heavier load: the limit is several times that,
// so only a hang reaches it.
const DEFAULT_TIMEOUT_S = 900;
const TIMEOUT_VAR = 'CNI_TEST_FILE_TIMEOUT_S';
// after the time limit: SIGTERM to the file's process group (testkit runs the cleanup of the test it stopped), then
// SIGKILL if it is still there once that cleanup had a minute
const KILL_GRACE_MS = 60_000;
// after a file's process exited: how long the processes it started may take to end on their own
const LEFT_GRACE_MS = 5_000;

function usage(message) {
  process.stderr.write(`test-all: ${message}\n  usage: node scripts/test-all.mjs [--root <dir>] [package-filter [file-filter]]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let root = path.resolve(here, '..');
const positional = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--root') {
    if (!args[i + 1]) usage('--root needs a directory');
    root = path.resolve(args[++i]);
  } else if (args[i].startsWith('-')) usage(`unknown option ${args[i]}`);
  else positional.push(args[i]);
}
if (positional.length > 2) usage('at most two filters');
const [pkgFilter, fileFilter] = positional;
let fileRe;
try {
  fileRe = fileFilter ? new RegExp(fileFilter, 'i') : undefined;
} catch (err) {
  usage(`file-filter is not a regular expression: ${err.message}`);
}
const timeoutRaw = process.env[TIMEOUT_VAR];
const timeoutS = timeoutRaw === undefined || timeoutRaw === '' ? DEFAULT_TIMEOUT_S : Number(timeoutRaw);
if (!(timeoutS > 0)) usage(`${TIMEOUT_VAR} must be a number of seconds above 0, not "${timeoutRaw}"`);

// colours only on a terminal; CI logs stay plain so the closing line is easy to read
function colorEnv() {
  const env = { ...process.env };
  delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  if (process.stdout.isTTY) env.FORCE_COLOR = '1';
  else env.NO_COLOR = '1';
  return env;
}

const out = (s) => process.stdout.write(s);
const rel = (p) => path.relative(root, p).split(path.sep).join('/');

/** Files under `dir` (any depth) whose names match `re`, as paths relative to `dir` with forward slashes. */
function walk(dir, re, prefix = '') {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const relName = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) found.push(...walk(path.join(dir, entry.name), re, relName));
    else if (re.test(entry.name)) found.push(relName);
  }
  return found.sort();
}
const toCompiled = (src) => src.replace(/\.(m?)ts$/, '.$1js');
const toSource = (compiled) => compiled.replace(/\.(m?)js$/, '.$1ts');

const count = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const firstLine = (s) => String(s ?? '').split('\n')[0];

/**
 * Turns one file's events (see test-all/run-file.mjs) and how its process ended into counts and failures.
 * Every failure is something that went wrong, found in the events; nothing is derived from totals.
 */
function judge(events, end) {
  const failures = [];
  const fail = (what, why) => failures.push({ what, why });
  const suites = [];
  let s;
  let done = false;
  let exitCode; // the code the process was leaving with before it finished (process.exit in a test)
  let loadFailed = false;
  for (const ev of events) {
    if (ev.t === 'suite') {
      s = { name: ev.suite, total: ev.total, tests: [], hookErrors: [], end: undefined };
      suites.push(s);
    } else if (ev.t === 'test' && s) s.tests.push({ name: ev.test, errors: [] });
    else if (ev.t === 'error') {
      if (ev.where === 'load') {
        loadFailed = true;
        fail('', `could not be loaded: ${firstLine(ev.message)}`);
      } else if (!s) fail('', `${firstLine(ev.message)}`);
      else if (['test', 'before.each', 'after.each'].includes(ev.where) && s.tests.length) s.tests.at(-1).errors.push(ev);
      else s.hookErrors.push(ev);
    } else if (ev.t === 'end' && s) s.end = ev;
    else if (ev.t === 'pending') fail(ev.suite, `${count(ev.tests, 'test')} registered but the suite's run() was never called`);
    else if (ev.t === 'exit') exitCode = ev.code;
    else if (ev.t === 'done') done = true;
  }

  let passed = 0;
  let skipped = 0;
  for (const suite of suites) {
    const label = (test) => [suite.name, test === undefined ? undefined : `"${test}"`].filter(Boolean).join(' › ');
    let failedTests = 0;
    for (const t of suite.tests) {
      if (t.errors.length === 0) continue;
      failedTests += 1;
      const e = t.errors[0];
      fail(label(t.name), `${e.where === 'test' ? '' : `its ${e.where} hook: `}${firstLine(e.message)}`);
    }
    const seen = new Set();
    for (const e of suite.hookErrors) {
      if (seen.has(e.where)) continue;
      seen.add(e.where);
      const lost = e.where === 'before' ? `; its ${count(suite.total, 'test')} did not run` : '';
      fail(label(), `${e.where === 'runner' ? 'uvu failed' : `its ${e.where} hook threw`}: ${firstLine(e.message)}${lost}`);
    }
    if (!suite.end) {
      // the file stopped inside this suite: a test passed if the next one started and it had no error
      passed += suite.tests.slice(0, -1).filter((t) => t.errors.length === 0).length;
      continue;
    }
    passed += suite.end.passed;
    skipped += suite.end.skipped;
    if (suite.end.skipped > 0) fail(label(), `${count(suite.end.skipped, 'test')} skipped with .only or .skip (the gate runs every test)`);
    const notRun = suite.end.total - suite.tests.length;
    if (notRun > 0 && !seen.has('before'))
      fail(
        label(),
        `${notRun} of its ${count(suite.end.total, 'test')} did not run (uvu stopped the suite after an error it did not report)`,
      );
    const finishedClean = suite.tests.length - failedTests;
    if (finishedClean !== suite.end.passed)
      fail(label(), `uvu counted ${suite.end.passed} passed, but ${finishedClean} tests finished without an error`);
  }

  const last = suites.at(-1);
  const lastTest = last?.tests.at(-1)?.name;
  const inside =
    last && !last.end
      ? ` while running ${[last.name, lastTest === undefined ? '' : `"${lastTest}"`].filter(Boolean).join(' › ') || 'a suite'}`
      : '';
  const how = end.signal ? `killed by ${end.signal}` : `exit code ${exitCode ?? end.code}`;
  if (end.timedOut && !done) fail('', `timed out after ${timeoutS} s (${TIMEOUT_VAR})${inside}; stopped`);
  else if (end.timedOut)
    fail(
      '',
      `its tests finished but the process did not exit within ${timeoutS} s (${TIMEOUT_VAR}): a server, timer or child process was left open`,
    );
  else if (!done && !loadFailed)
    fail('', `stopped before it finished${inside} (${how}: a process.exit() in a test, a crash, or a promise that never settles)`);
  if (done && suites.length === 0 && failures.length === 0) fail('', 'no tests ran: the file defines no test');
  if (failures.length === 0 && (end.code !== 0 || end.signal)) fail('', `${how} although every test passed`);
  if (end.left?.length && !end.timedOut) fail('', `left processes running after it exited (killed now): ${end.left.join('; ')}`);
  return { passed, skipped, failures };
}

let active; // the running test file's process
let interrupted;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    interrupted = sig;
    // the file runs in a process group of its own (so a hang can be stopped whole); pass the signal on
    if (active) killGroup(active, sig);
  });
}

function killGroup(child, sig) {
  try {
    process.kill(-child.pid, sig);
  } catch {
    // the group is gone already
  }
}

/** The processes still running in process group `pgid`, as "pid command line". */
function groupMembers(pgid) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      // the command name in field 2 is in parentheses and may hold spaces: the fields after its last ')'
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // a zombie has ended; it only waits for its new parent (init here) to reap it
      if (Number(pgrp) !== pgid || state === 'Z') continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      found.push(`${pid} ${cmd || stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}`);
    } catch {
      // it ended while we looked
    }
  }
  return found;
}

function runTestFile(pkgDir, compiled, eventsFile) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [runFile, path.join(pkgDir, 'dist', 'test', compiled), eventsFile], {
      cwd: pkgDir,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: colorEnv(),
      detached: true,
    });
    active = child;
    let timedOut = false;
    let killer;
    const limit = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGTERM');
      killer = setTimeout(() => killGroup(child, 'SIGKILL'), KILL_GRACE_MS);
    }, timeoutS * 1000);
    child.on('error', (err) => {
      clearTimeout(limit);
      active = undefined;
      resolve({ code: 1, signal: null, timedOut, spawnError: err.message });
    });
    child.on('close', async (code, signal) => {
      clearTimeout(limit);
      clearTimeout(killer);
      // processes the file started in its own group and left running (detached ones have groups of their
      // own); a helper that ends when its parent's pipe closes is given a moment to do so
      let left = groupMembers(child.pid);
      for (let waited = 0; left.length && waited < LEFT_GRACE_MS; waited += 100) {
        await new Promise((r) => setTimeout(r, 100));
        left = groupMembers(child.pid);
      }
      if (left.length) killGroup(child, 'SIGKILL');
      active = undefined;
      resolve({ code, signal, timedOut, left });
    });
  });
}

function readEvents(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line)];
      } catch {
        return []; // a line cut short by a kill
      }
    });
}

const failures = []; // { file, what, why }
let passed = 0;
let skipped = 0;
let filesRun = 0;
let packagesMatched = 0;
const eventsDir = mkdtempSync(path.join(os.tmpdir(), 'test-all-'));
// the forwarding guard reads the host record through core's own module
let guard = true;
try {
  await loadRecord();
} catch (err) {
  guard = false;
  failures.push({
    file: '',
    what: '',
    why: `the forwarding check cannot load core's host record module (run pnpm turbo run build): ${firstLine(err.message)}`,
  });
}
const heldFiles = []; // files the forwarding check did not judge, and who held forwarding meanwhile

const pkgsDir = path.join(root, 'packages');
const pkgNames = existsSync(pkgsDir) ? readdirSync(pkgsDir).sort() : [];
for (const name of pkgNames) {
  if (interrupted) break;
  const dir = path.join(pkgsDir, name);
  const pkgFile = path.join(dir, 'package.json');
  if (!existsSync(pkgFile)) continue;
  if (pkgFilter && !name.includes(pkgFilter)) continue;
  packagesMatched += 1;
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  const keep = (src) => !fileRe || fileRe.test(src);
  const sources = walk(path.join(dir, 'test'), /\.test\.m?ts$/).filter(keep);
  const compiled = walk(path.join(dir, 'dist', 'test'), /\.test\.m?js$/).filter((c) => keep(toSource(c)));
  if (sources.length === 0 && compiled.length === 0) continue;
  out(`\n=== ${pkg.name ?? name} ===\n`);
  const pkgFail = (file, why) => {
    failures.push({ file, what: '', why });
    out(`  ✘ ${file}: ${why}\n`);
  };
  if (compiled.length === 0) {
    pkgFail(
      rel(path.join(dir, 'test')),
      `${count(sources.length, 'test file')} and none compiled (no dist/test): run pnpm turbo run build`,
    );
    continue;
  }
  const compiledSet = new Set(compiled);
  const sourceSet = new Set(sources);
  for (const src of sources) {
    if (!compiledSet.has(toCompiled(src))) pkgFail(rel(path.join(dir, 'test', src)), 'not compiled: run pnpm turbo run build');
  }
  for (const c of compiled) {
    if (!sourceSet.has(toSource(c)))
      pkgFail(
        rel(path.join(dir, 'dist', 'test', c)),
        // tsc never deletes old output, and turbo's cache captured it with dist/** and restores it: hence --force
        `stale: its source test/${toSource(c)} is gone; rm -rf ${rel(path.join(dir, 'dist'))} && pnpm turbo run build --force --filter=${pkg.name ?? name}`,
      );
  }
  for (const c of compiled) {
    if (interrupted) break;
    if (!sourceSet.has(toSource(c))) continue;
    const shown = rel(path.join(dir, 'test', toSource(c)));
    out(`\n${shown}\n`);
    const eventsFile = path.join(eventsDir, `${filesRun}.jsonl`);
    const fwdBefore = guard ? await noteForwarding() : undefined;
    const started = process.hrtime.bigint();
    const end = await runTestFile(dir, c, eventsFile);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const fwd = fwdBefore ? judgeForwarding(fwdBefore, await noteForwarding()) : {};
    // a file stopped halfway may have left its last line open
    if (end.timedOut || end.signal || end.code !== 0) out('\n');
    filesRun += 1;
    const result = judge(readEvents(eventsFile), end);
    if (end.spawnError) result.failures.push({ what: '', why: `could not start: ${end.spawnError}` });
    if (fwd.changed) result.failures.push({ what: '', why: fwd.changed });
    if (fwd.heldBy) heldFiles.push({ file: shown, heldBy: fwd.heldBy });
    passed += result.passed;
    skipped += result.skipped;
    const n = result.failures.length;
    out(`  ${n ? '✘' : '✔'} ${result.passed} passed${n ? `, ${n} failed` : ''} (${seconds.toFixed(1)} s)\n`);
    for (const f of result.failures) {
      failures.push({ file: shown, ...f });
      out(`    - ${f.what ? `${f.what}: ` : ''}${f.why}\n`);
    }
  }
}
rmSync(eventsDir, { recursive: true, force: true });

if (interrupted) failures.push({ file: '', what: '', why: `interrupted by ${interrupted}` });
else if (pkgFilter && packagesMatched === 0) failures.push({ file: '', what: '', why: `no folder under packages/ matches "${pkgFilter}"` });
else if (filesRun === 0 && failures.length === 0)
  failures.push({
    file: '',
    what: '',
    why: positional.length ? `the filter ${positional.map((f) => `"${f}"`).join(' ')} ran no test file` : 'no test files found',
  });

if (failures.length) {
  out(`\nFailures (${failures.length}):\n`);
  let lastFile;
  for (const f of failures) {
    if (f.file !== lastFile) out(`  ${f.file || 'test-all'}\n`);
    lastFile = f.file;
    out(`    ✘ ${f.what ? `${f.what}: ` : ''}${f.why}\n`);
  }
}
if (heldFiles.length) {
  // not a failure (a demo or another developer's test may hold them), but the check did not look at these files
  const by = [...new Set(heldFiles.flatMap((h) => h.heldBy))];
  const files = heldFiles.map((h) => h.file);
  const shownFiles = files.length > 3 ? `${files.slice(0, 3).join(', ')}, …` : files.join(', ');
  out(
    `\nforwarding check: ${count(files.length, 'file')} not judged (${shownFiles}): the host record held forwarding for ${by.join(', ')}\n`,
  );
}
out(
  `\n${count(filesRun, 'test file')} run${skipped ? `, ${count(skipped, 'test')} skipped (each suite with skips counts as failed)` : ''}\n`,
);
out(`${passed} passed, ${failures.length} failed\n`);
process.exitCode = failures.length > 0 ? 1 : 0;
