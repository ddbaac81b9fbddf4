// scripts/test-all.mjs against fixtures/test-all: each fixture package is one way a run can go wrong, and
// each must turn the gate red with a failure that says which file and why. The fixtures are compiled into
// a temporary copy (as the build would), with the repository's uvu, so the gate runs them like real tests.
// Every run of the gate is made inside a private network namespace (testkit's privateNetns) whose forwarding
// sysctls the test sets first: one fixture turns them on, and the host's belong to everyone on it.
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExec, hostRecordFile, joinHostRecord, leaveHostRecord, readHostRecord } from '@cni-demo/core';
import { Cleanup, type PrivateNetns, privateNetns, tempRoot, withCleanup } from '@cni-demo/testkit';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const repoRoot = path.resolve(pkgDir, '../..');
const testAllScript = path.join(repoRoot, 'scripts/test-all.mjs');
const uvuDir = realpathSync(path.join(pkgDir, 'node_modules/uvu'));
const exec = createExec();
// the time limit for the fixtures that hang: each is a small file that starts its hanging test or finishes
// its tests within a second, so this is a wide margin, and the only wait those cases cost
const LIMIT_S = 10;

function compileTree(src: string, out: string): void {
  if (!existsSync(src)) return;
  for (const entry of readdirSync(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    if (entry.isDirectory()) compileTree(from, path.join(out, entry.name));
    else if (entry.name.endsWith('.ts')) {
      const js = ts.transpileModule(readFileSync(from, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      mkdirSync(out, { recursive: true });
      writeFileSync(path.join(out, entry.name.replace(/\.ts$/, '.js')), js);
    }
  }
}

/** A copy of the fixture repository, built: test/** compiled to dist/test/**, then the build-related cases set up. */
function materialize(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'test-all-fixtures-'));
  cpSync(path.join(pkgDir, 'fixtures/test-all'), root, { recursive: true });
  mkdirSync(path.join(root, 'node_modules'));
  symlinkSync(uvuDir, path.join(root, 'node_modules/uvu'));
  for (const pkg of readdirSync(path.join(root, 'packages'))) {
    compileTree(path.join(root, 'packages', pkg, 'test'), path.join(root, 'packages', pkg, 'dist/test'));
  }
  rmSync(path.join(root, 'packages/not-built/dist'), { recursive: true });
  rmSync(path.join(root, 'packages/part-built/dist/test/unbuilt.test.js'));
  rmSync(path.join(root, 'packages/stale/test/deleted.test.ts'));
  return root;
}

const root = materialize();
const netnsCleanup = new Cleanup();
let ns: PrivateNetns | undefined;
test.before(async () => {
  ns = await privateNetns(netnsCleanup);
});
test.after(async () => {
  rmSync(root, { recursive: true, force: true });
  await netnsCleanup.run();
});

const FORWARDING = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'];
/** argv run inside the private namespace */
function inNetns(argv: string[]): [string, string[]] {
  if (!ns) throw new Error('the private network namespace was not made');
  return ['nsenter', [`--net=/var/run/netns/${ns.name}`, ...argv]];
}
/** The namespace's forwarding sysctls, set (every gate run starts from them) or read. */
async function setForwarding(value: '0' | '1'): Promise<void> {
  await exec(...inNetns(['sysctl', '-qw', ...FORWARDING.map((k) => `${k}=${value}`)]));
}
async function forwarding(): Promise<string[]> {
  return (await exec(...inNetns(['sysctl', '-n', ...FORWARDING]))).stdout.trim().split('\n');
}

interface GateRun {
  exitCode: number;
  /** the last line, the one CI reads */
  last: string;
  /** "<file>: <failure>" from the closing list */
  failures: string[];
  stdout: string;
}

async function gate(args: string[], timeoutS = 120): Promise<GateRun> {
  await setForwarding('0');
  const r = await exec(...inNetns([process.execPath, testAllScript, '--root', root, ...args]), {
    allowFail: true,
    // the namespace the forwarding fixture may change (it refuses any other)
    env: { CNI_TEST_FILE_TIMEOUT_S: String(timeoutS), NO_COLOR: '1', FIXTURE_PRIVATE_NETNS: ns?.netns ?? '' },
  });
  const lines = r.stdout.trimEnd().split('\n');
  const failures: string[] = [];
  const start = lines.findIndex((l) => /^Failures \(\d+\):$/.test(l));
  let file = '';
  for (const line of start < 0 ? [] : lines.slice(start + 1)) {
    if (line === '') break;
    const item = /^ {4}✘ (.*)$/.exec(line);
    if (item) failures.push(`${file}: ${item[1]}`);
    else file = line.trim();
  }
  return { exitCode: r.exitCode, last: lines.at(-1) ?? '', failures, stdout: r.stdout };
}

/** Exactly these failures (one regular expression each, in order), the given final line, exit code 1. */
function assertRed(run: GateRun, last: string, expected: RegExp[]) {
  assert.is(run.last, last, run.stdout);
  assert.is(run.exitCode, 1, run.stdout);
  assert.is(run.failures.length, expected.length, run.failures.join('\n'));
  for (const [i, re] of expected.entries()) assert.match(run.failures[i] ?? '', re);
}

test('control: a package whose tests all pass is green, and a test in a subfolder of dist/test is found', async () => {
  const run = await gate(['passing']);
  assert.is(run.last, '3 passed, 0 failed', run.stdout);
  assert.is(run.exitCode, 0);
  assert.equal(run.failures, []);
  assert.match(run.stdout, /^packages\/passing\/test\/e2e\/deep\.test\.ts$/m);
});

test('a failing test is counted and named with its file', async () => {
  assertRed(await gate(['failing-test']), '1 passed, 1 failed', [
    /^packages\/failing-test\/test\/sums\.test\.ts: "two plus three is wrong here": Expected values to be strictly equal/,
  ]);
});

test('skipped tests no longer cancel a failure: both count (the old total - passed - skipped gave -2 here)', async () => {
  assertRed(await gate(['skip-cancels']), '2 passed, 2 failed', [
    /^packages\/skip-cancels\/test\/sums\.test\.ts: skipping: 3 tests skipped with \.only or \.skip/,
    /^packages\/skip-cancels\/test\/sums\.test\.ts: failing › "fails": /,
  ]);
});

test('a .only fails the run: the tests it left out are counted as skipped', async () => {
  assertRed(await gate(['only']), '1 passed, 1 failed', [/^packages\/only\/test\/focus\.test\.ts: 1 test skipped with \.only or \.skip/]);
});

test('a before hook that throws fails its suite, with the cause printed (plain uvu reports the file as passing)', async () => {
  const uvu = await exec(process.execPath, [path.join(uvuDir, 'bin.js'), 'dist/test', '\\.test\\.js$'], {
    cwd: path.join(root, 'packages/before-hook'),
    allowFail: true,
  });
  assert.is(uvu.exitCode, 0, 'uvu 0.5.6 drops the error; if it no longer does, this fixture needs a new reason to exist');
  const run = await gate(['before-hook']);
  assertRed(run, '0 passed, 1 failed', [
    /^packages\/before-hook\/test\/hooks\.test\.ts: database: its before hook threw: the fixture database did not start; its 2 tests did not run$/,
  ]);
  // the stack, where it was thrown, is printed with the suite
  assert.match(
    run.stdout,
    /HOOK ERROR {2}suite "database": its before hook threw\n {4}Error: the fixture database did not start\n {8}at .*hooks\.test\.js:\d+/,
  );
});

test('an after hook that throws fails its suite, and the suites after it still run', async () => {
  assertRed(await gate(['after-hook']), '2 passed, 1 failed', [
    /^packages\/after-hook\/test\/hooks\.test\.ts: first: its after hook threw: cleanup of the first suite failed$/,
  ]);
});

test('an after.each that throws fails the test, and the tests uvu then did not run are counted', async () => {
  const run = await gate(['after-each-hook']);
  assertRed(run, '0 passed, 2 failed', [
    /: each › "first": its after\.each hook: per-test cleanup failed$/,
    /: each: 1 of its 2 tests did not run/,
  ]);
  assert.match(run.stdout, /FAIL \(not reported by uvu\) {2}each › "first", in its after\.each\n {4}Error: per-test cleanup failed/);
});

test('a thrown non-Error fails the test instead of vanishing with the rest of the suite', async () => {
  assertRed(await gate(['non-error-throw']), '1 passed, 1 failed', [
    /^packages\/non-error-throw\/test\/throws\.test\.ts: "throws a string": threw a value that is not an Error: 'a string, not an Error'$/,
  ]);
});

test('a package with test sources and no compiled tests fails', async () => {
  assertRed(await gate(['not-built']), '0 passed, 1 failed', [/^packages\/not-built\/test: 1 test file and none compiled/]);
});

test('a test source without its compiled file fails, the others still run', async () => {
  assertRed(await gate(['part-built']), '1 passed, 1 failed', [/^packages\/part-built\/test\/unbuilt\.test\.ts: not compiled/]);
});

test('a compiled test whose source was deleted fails and is not run', async () => {
  assertRed(await gate(['stale']), '1 passed, 1 failed', [
    /^packages\/stale\/dist\/test\/deleted\.test\.js: stale: its source test\/deleted\.test\.ts is gone/,
  ]);
});

test('a hanging test file is stopped at the time limit and named, with the test it hung in', async () => {
  assertRed(await gate(['hang'], LIMIT_S), '1 passed, 1 failed', [
    /^packages\/hang\/test\/waits\.test\.ts: timed out after 10 s \(CNI_TEST_FILE_TIMEOUT_S\) while running "waits forever"; stopped$/,
  ]);
});

test('a file whose tests pass but whose process never exits is stopped and named', async () => {
  assertRed(await gate(['open-handle'], LIMIT_S), '1 passed, 1 failed', [
    /^packages\/open-handle\/test\/server\.test\.ts: its tests finished but the process did not exit within 10 s/,
  ]);
});

test('a file that leaves a process running after it exits fails, and the process is killed', async () => {
  const run = await gate(['leaves-process']);
  assertRed(run, '1 passed, 1 failed', [
    /^packages\/leaves-process\/test\/daemon\.test\.ts: left processes running after it exited \(killed now\): \d+ \S+ -e setTimeout/,
  ]);
  const pid = Number(/killed now\): (\d+) /.exec(run.stdout)?.[1]);
  // gone, or a zombie until init reaps it
  const state = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone';
  assert.ok(state === 'gone' || state === 'Z', `process ${pid} is still running (${state})`);
});

test('a test that calls process.exit() fails its file, naming the test', async () => {
  assertRed(await gate(['exits']), '0 passed, 1 failed', [
    /^packages\/exits\/test\/exits\.test\.ts: stopped before it finished while running "calls process\.exit" \(exit code 0/,
  ]);
});

test('a file that throws while loading, one that never calls run(), one without tests, and one that sets an exit code fail', async () => {
  assertRed(await gate(['load-error']), '0 passed, 1 failed', [/: could not be loaded: the module failed while loading$/]);
  assertRed(await gate(['no-run']), '0 passed, 1 failed', [/: 1 test registered but the suite's run\(\) was never called$/]);
  assertRed(await gate(['no-tests']), '0 passed, 1 failed', [/: no tests ran: the file defines no test$/]);
  assertRed(await gate(['exit-code']), '1 passed, 1 failed', [/: exit code 3 although every test passed$/]);
});

test('a filter that runs nothing fails: no such package, or no file matching in it', async () => {
  assertRed(await gate(['no-such-package']), '0 passed, 1 failed', [/^test-all: no folder under packages\/ matches "no-such-package"$/]);
  assertRed(await gate(['passing', 'no-such-file']), '0 passed, 1 failed', [
    /^test-all: the filter "passing" "no-such-file" ran no test file$/,
  ]);
  const one = await gate(['passing', 'e2e/']);
  assert.is(one.last, '1 passed, 0 failed', one.stdout);
  assert.is(one.exitCode, 0);
});

test('a file that turns the forwarding sysctls on while no instance holds them in the host record fails, naming what changed', async () => {
  const run = await gate(['forwarding']);
  assertRed(run, '1 passed, 1 failed', [
    /^packages\/forwarding\/test\/bridge-add\.test\.ts: changed the forwarding sysctls \(net\.ipv4\.ip_forward 0 -> 1, net\.ipv6\.conf\.all\.forwarding 0 -> 1\) while no instance held them in the host record: /,
  ]);
  assert.equal(await forwarding(), ['1', '1'], 'the fixture did turn them on (in the private namespace)');
});

test('while an instance holds forwarding in the host record, a change is its own: the file is not judged, and the run says so', async () => {
  if (!ns) throw new Error('no namespace');
  const netns = ns.netns;
  const runDir = path.join(tempRoot('test-all-holder'), 'holder');
  // the record's sysctl side points at an empty folder: neither the join nor the leave reads or writes real ones
  const sysctlRoot = tempRoot('test-all-sysctls');
  await withCleanup(async (c) => {
    c.add('remove the folders', () => {
      for (const d of [path.dirname(runDir), sysctlRoot]) rmSync(d, { recursive: true, force: true });
    });
    c.add('leave the host record', async () => {
      await leaveHostRecord(runDir, { netns, sysctlRoot });
    });
    await joinHostRecord(
      runDir,
      { id: 'holder', bridge: 'none', network: 'none', createdBridge: false, createdDirs: [] },
      { netns, sysctlRoot },
    );
    const run = await gate(['forwarding']);
    assert.is(run.last, '1 passed, 0 failed', run.stdout);
    assert.is(run.exitCode, 0);
    assert.match(
      run.stdout,
      `forwarding check: 1 file not judged (packages/forwarding/test/bridge-add.test.ts): the host record held forwarding for ${runDir}\n`,
    );
  });
  assert.is(readHostRecord({ netns }), undefined, `${hostRecordFile({ netns })} removed`);
});

test('bad arguments and a bad time limit are usage errors (exit 2) that say what to fix', async () => {
  const badLimit = await gate(['passing'], 0);
  assert.is(badLimit.exitCode, 2);
  assert.match(badLimit.stdout, /^$/);
  const r = await exec(process.execPath, [testAllScript, '--root', root, 'passing', '('], { allowFail: true });
  assert.is(r.exitCode, 2);
  assert.match(r.stderr, /file-filter is not a regular expression/);
  const limit = await exec(process.execPath, [testAllScript, '--root', root, 'passing'], {
    allowFail: true,
    env: { CNI_TEST_FILE_TIMEOUT_S: 'soon' },
  });
  assert.match(limit.stderr, /CNI_TEST_FILE_TIMEOUT_S must be a number of seconds above 0, not "soon"/);
});

test('the whole fixture repository: every broken package counts, and the last line is the count', async () => {
  const run = await gate([], LIMIT_S);
  assert.is(run.exitCode, 1);
  // passed: passing 3, failing-test 1, skip-cancels 2, only 1, after-hook 2, non-error-throw 1, part-built 1,
  // stale 1, hang 1, open-handle 1, exit-code 1, leaves-process 1, forwarding 1; failed: one for each broken
  // package, two for skip-cancels and after-each-hook
  assert.is(run.last, '17 passed, 21 failed', run.stdout);
  assert.is(run.failures.length, 21, run.failures.join('\n'));
  const packages = new Set(run.failures.map((f) => /^(?:packages\/)?([^/:]+)/.exec(f)?.[1]));
  assert.is(packages.size, 19, [...packages].join(' '));
  // the forwarding check blames the one file that changed them, not the files that ran after it
  assert.equal(
    run.failures.filter((f) => f.includes('changed the forwarding sysctls')).map((f) => f.split(':')[0]),
    ['packages/forwarding/test/bridge-add.test.ts'],
  );
});

test.run();
