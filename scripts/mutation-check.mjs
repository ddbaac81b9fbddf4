#!/usr/bin/env node
// Do the tests catch a broken product? Each mutation below breaks the product (or the test machinery) in one
// way a real defect would; this script applies it to a scratch copy of the repository, rebuilds what depends on
// it, runs the tests that should notice, and fails unless every mutation turns them red. The same tests run on
// the unmutated copy first and must pass, or a "caught" would mean nothing.
//
//   node scripts/mutation-check.mjs [--list] [--keep] [name-filter]
//     --list   print the mutations and the tests that must catch each, run nothing; exits 1 when one no longer
//              fits the code (its text not there exactly once, or no test matching), as a repo check asserts
//     --keep   leave the scratch copy (its path is printed) for a look afterwards
//
// Root only (the tests touch the kernel), long (a rebuild and real end-to-end tests per mutation: about half an
// hour on 2 cores), so it is not part of `pnpm check`. The scratch copy is `git archive HEAD`: commit first.
// Test names: CNI_TEST_PREFIX is always "mut", CNI_TEST_NET4 comes from the environment (172.30 by default):
// give it a /16 nobody else on the host uses, as for any test run; every test root goes into a folder of the
// run's own (TMPDIR=/tmp/cni-mut-…).
//
// Nothing may be left on the host, whatever a mutation breaks: testkit's forced teardown does not use the
// product's teardown code, and after every mutation (the product whole again) testkit's sweep looks for anything
// of the run (the prefix, the /16, the folder) and removes it; the script fails when it found something, as a
// hole in the tests' cleanup. Stopped by Ctrl-C or SIGTERM, it lets the running tests clean up, puts the mutated
// file back, sweeps and removes its folders before it exits.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * One mutation: in `file`, the text `from` (which must occur exactly once, or the mutation no longer fits the
 * code and the script says so) becomes `to`. `pkg` is the package rebuilt with its dependents; `tests` are
 * test-all selections ([package filter, file filter]) of which at least one must fail.
 */
const MUTATIONS = [
  {
    name: 'a verify check that always passes',
    why: 'runCheck counts a check that threw as passed',
    pkg: 'verify',
    file: 'packages/verify/src/checks.ts',
    from: 'return { name, ok: false, detail: msg, durationMs: performance.now() - started };',
    to: 'return { name, ok: true, detail: msg, durationMs: performance.now() - started };',
    tests: [
      ['verify', '^checks\\.test\\.ts$'],
      ['cli', '^e2e/verify-catches\\.test\\.ts$'],
    ],
  },
  {
    name: 'a verify that exits 0 with failed checks',
    why: 'verify up prints the failures but does not fail',
    pkg: 'verify',
    file: 'packages/verify/src/up.ts',
    from: 'if (!state.ok) {',
    to: 'if (!state.ok && state.checks.length < 0) {',
    tests: [['cli', '^e2e/verify-catches\\.test\\.ts$']],
  },
  {
    name: 'a leak audit blind to masquerade chains',
    why: 'the audit no longer lists the nat chains the bridge plugin leaves',
    pkg: 'verify',
    file: 'packages/verify/src/leaks.ts',
    from: 'for (const ch of await masqRead) {',
    to: 'for (const ch of (await masqRead).slice(0, 0)) {',
    tests: [['verify', '^leaks\\.test\\.ts$']],
  },
  {
    name: 'a leak audit blind to the host record',
    why: 'an entry left in the host record (forwarding held on for good) is not reported',
    pkg: 'verify',
    file: 'packages/verify/src/leaks.ts',
    from: '  if (rec)\n',
    to: '  if (rec && !rec)\n',
    tests: [['verify', '^leaks\\.test\\.ts$']],
  },
  {
    name: 'a down that skips the shared chains',
    why: 'host-setup down no longer removes the portmap/firewall chains it made',
    pkg: 'host-setup',
    file: 'packages/host-setup/src/down.ts',
    from: 'const removed = await removeSharedChainsWith(ctx.exec, chainsBefore, kept);',
    to: 'const removed: string[] = [];',
    tests: [['cli', '^e2e/private-host\\.test\\.ts$']],
  },
  {
    name: 'shared chains judged by each instance alone',
    why: "the host record keeps the latest instance's view of the shared chains, not the first one's (the leak this suite found: the last one out leaves them)",
    pkg: 'core',
    file: 'packages/core/src/host/record.ts',
    from: 'const chains = fresh ? opts.sharedChainsNow : (r?.sharedChainsBefore ?? opts.sharedChainsNow);',
    to: 'const chains = opts.sharedChainsNow ?? r?.sharedChainsBefore;',
    tests: [
      ['core', '^host/record\\.test\\.ts$'],
      ['cli', '^e2e/private-host\\.test\\.ts$'],
    ],
  },
  {
    name: 'a restore that skips the sysctls',
    why: 'the last instance out no longer writes the forwarding sysctls back',
    pkg: 'core',
    file: 'packages/core/src/host/record.ts',
    from: "writeFileSync(sysctlFile(k, opts.sysctlRoot ?? '/proc/sys'), v);",
    to: '/* mutated: no restore */',
    tests: [
      ['core', '^host/record\\.test\\.ts$'],
      ['cli', '^e2e/forwarding\\.test\\.ts$'],
    ],
  },
  {
    name: 'a down that keeps the masquerade chain of a vanished netns',
    why: 'cni-attach down no longer removes the chains the bridge plugin leaves when the netns is gone',
    pkg: 'core',
    file: 'packages/core/src/masq.ts',
    from: 'const found = await findMasqChains(exec, network, ids);\n  if (found.length === 0) return found;',
    to: 'const found = await findMasqChains(exec, network, ids);\n  if (found.length >= 0) return [];',
    tests: [['cli', '^e2e/damage\\.test\\.ts$']],
  },
  {
    name: 'a full disk reported only when the unpacker says so',
    why: 'image-fetch trusts umoci to print ENOSPC (the flake of issue 19)',
    pkg: 'image-fetch',
    file: 'packages/image-fetch/src/unpack.ts',
    from: '(/no space left on device/i.test(e.stderr) || room?.full)',
    to: '/no space left on device/i.test(e.stderr)',
    tests: [['image-fetch', '^up\\.test\\.ts$']],
  },
  {
    name: "a pull's full disk judged after the registry's words",
    why: 'skopeo\'s "no space left on device" is read after the not-found test, which a temporary file\'s number holding 404 matched (a flake of issue 19)',
    pkg: 'image-fetch',
    file: 'packages/image-fetch/src/skopeo.ts',
    from: '  if (/no space left on device/i.test(text)) return full();\n',
    to: '',
    tests: [
      ['image-fetch', '^skopeo\\.test\\.ts$'],
      ['image-fetch', '^up\\.test\\.ts$'],
    ],
  },
  {
    name: 'a host comparison blind to the shared chains',
    why: "testkit's filter drops the shared chains' lines, as before issue 19",
    pkg: 'testkit',
    file: 'packages/testkit/src/snapshot-filter.ts',
    from: 'if (isShared(table, text)) return own.mayShare && !usedByAnother(table, a[key], own) && !usedByAnother(table, b[key], own);',
    to: 'if (isShared(table, text)) return false;',
    tests: [['testkit', '^snapshot(-filter)?\\.test\\.ts$']],
  },
  {
    name: 'a host comparison blind to files and mounts',
    why: "testkit's filter drops the lines of the instance's folders and mounts",
    pkg: 'testkit',
    file: 'packages/testkit/src/snapshot-filter.ts',
    from: "if (key === 'files') return true;",
    to: "if (key === 'files' || key === 'mounts') return false;",
    tests: [['testkit', '^snapshot(-filter)?\\.test\\.ts$']],
  },
  {
    name: 'a forced teardown blind to the port mappings',
    why: "testkit's forceTeardown leaves portmap's DNAT chains and their jumps (what failed tests once left on the host)",
    pkg: 'testkit',
    file: 'packages/testkit/src/cleanup.ts',
    from: 'for (const chain of [n.masqChain, n.dnatChain]) if (rs.chains.has(chain)) ours.add(chain);',
    to: 'for (const chain of [n.masqChain]) if (rs.chains.has(chain)) ours.add(chain);',
    tests: [
      ['testkit', '^cleanup\\.test\\.ts$'],
      ['cli', '^e2e/force-teardown\\.test\\.ts$'],
    ],
  },
  {
    name: 'a test stopped by a signal skips its cleanup',
    why: "withCleanup no longer hooks SIGINT/SIGTERM (test-all's time limit, Ctrl-C leave the host as the test had it)",
    pkg: 'testkit',
    file: 'packages/testkit/src/cleanup.ts',
    from: '  hookSignals();\n  pending.add(c);',
    to: '  pending.add(c);',
    tests: [['testkit', '^cleanup\\.test\\.ts$']],
  },
  {
    name: "a network file's name not held to the network-name rule",
    why: 'a --netconf "name" of 266 characters is taken (the derived paths then fail with ENAMETOOLONG, issue 14)',
    pkg: 'core',
    file: 'packages/core/src/network.ts',
    from: 'if (nameProblem) {',
    to: 'if (nameProblem && false) {',
    tests: [
      ['core', '^network\\.test\\.ts$'],
      ['cli', '^e2e/netconf-bad-input\\.test\\.ts$'],
    ],
  },
  {
    name: 'a plugin timeout the config accepts and the CNI runtime refuses',
    why: "pluginTimeoutMs no longer has the runtime's bounds (1 to 2^31-1): an up would pass its checks, then fail halfway",
    pkg: 'core',
    file: 'packages/core/src/config/schema.ts',
    from: 'check: (v) => (v >= 1 ? timerMax(v)',
    to: 'check: (v) => (v >= 0 ? timerMax(v)',
    tests: [
      ['cni-attach', '^attach\\.test\\.ts$'],
      ['core', '^config/schema\\.test\\.ts$'],
    ],
  },
  {
    name: 'a forwarding hold never given back',
    why: "testkit's holdForwarding joins the host record but its cleanup never leaves it (forwarding stays on after the suite)",
    pkg: 'testkit',
    file: 'packages/testkit/src/cleanup.ts',
    from: "cleanup.add('leave the host record (forwarding)', async () => {\n    await leaveHostRecord(runDir);\n  });",
    to: '/* mutated: never left */',
    tests: [['testkit', '^cleanup\\.test\\.ts$']],
  },
  {
    name: 'a gate blind to the forwarding sysctls',
    why: 'test-all no longer fails a file that changed them while nobody held them (CI found them on after the suite)',
    pkg: undefined,
    file: 'scripts/test-all/forwarding.mjs',
    from: 'if (diffs.length === 0) return {};',
    to: 'return {};',
    tests: [['repo-checks', '^test-all\\.test\\.ts$']],
  },
  {
    name: 'a gate that prints 0 failed',
    why: 'test-all counts no failure in its last line',
    pkg: undefined,
    file: 'scripts/test-all.mjs',
    from: 'out(`${passed} passed, ${failures.length} failed\\n`);',
    to: 'out(`${passed} passed, 0 failed\\n`);',
    tests: [['repo-checks', '^test-all\\.test\\.ts$']],
  },
];

const args = process.argv.slice(2);
const list = args.includes('--list');
const keep = args.includes('--keep');
const filter = args.find((a) => !a.startsWith('--'));
const chosen = MUTATIONS.filter((m) => !filter || m.name.includes(filter));
if (chosen.length === 0) {
  console.error(`error: no mutation matches "${filter}"; --list shows them`);
  process.exit(2);
}
const sel = (t) => `${t[0]} ${t[1]}`;
/** Why a mutation no longer fits the tree (its text not there exactly once, a test selection matching no test), or undefined. */
function misfit(m, root) {
  let text = '';
  try {
    text = readFileSync(path.join(root, m.file), 'utf8');
  } catch {
    return `${m.file} is missing`;
  }
  const n = text.split(m.from).length - 1;
  if (n !== 1) return `its text occurs ${n} times in ${m.file}`;
  for (const [pkg, re] of m.tests) {
    const dirs = existsSync(path.join(root, 'packages')) ? readdirSync(path.join(root, 'packages')).filter((d) => d.includes(pkg)) : [];
    const sources = dirs.flatMap((d) => testSources(path.join(root, 'packages', d, 'test'), ''));
    if (!sources.some((f) => new RegExp(re, 'i').test(f))) return `no test of ${pkg} matches ${re}`;
  }
  return undefined;
}
function testSources(dir, rel) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testSources(path.join(dir, e.name), `${rel}${e.name}/`) : /\.test\.m?ts$/.test(e.name) ? [`${rel}${e.name}`] : [],
  );
}
if (list) {
  // also what the repo check runs: every mutation must still fit the code it breaks
  let bad = 0;
  for (const m of chosen) {
    const why = misfit(m, REPO);
    if (why) bad += 1;
    console.log(
      `${m.name}\n  ${m.why}\n  ${m.file}\n  caught by: ${m.tests.map(sel).join('; ')}\n  ${why ? `DOES NOT FIT: ${why}` : 'fits'}`,
    );
  }
  process.exit(bad === 0 ? 0 : 1);
}
if (process.getuid?.() !== 0) {
  console.error('error: run as root: the tests that must catch these touch the kernel');
  process.exit(2);
}

const net4 = process.env.CNI_TEST_NET4 || '172.30';
// every test root of the run is made in a folder of the run's own (TMPDIR): what a killed test leaves in it is
// found by place (runc containers, mounts, host-record entries), the rest by the prefix and the /16
const tmpRoot = mkdtempSync('/tmp/cni-mut-');
const env = {
  ...process.env,
  CNI_TEST_PREFIX: 'mut',
  CNI_TEST_NET4: net4,
  TMPDIR: tmpRoot,
  TURBO_TELEMETRY_DISABLED: '1',
  DO_NOT_TRACK: '1',
  NO_COLOR: '1',
};
delete env.FORCE_COLOR;
const log = (s) => process.stdout.write(`${s}\n`);
const lastLine = (out) => out.trim().split('\n').at(-1) ?? '';

// Stopped from outside (Ctrl-C, SIGTERM, a closed terminal), the script passes the signal on once to what runs
// (test-all passes it to the test file, whose cleanup runs; see testkit's withCleanup), waits for it, puts the
// mutated file back, rebuilds, sweeps and removes its folders. A second signal ends it at once.
const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
let active; // the child process running now, in a process group of its own
let stopped;
for (const [sig, n] of Object.entries(SIGNALS)) {
  process.on(sig, () => {
    if (stopped) process.exit(128 + n);
    stopped = sig;
    log(`\n${sig}: stopping; the running step cleans up, then the mutated file is put back and the host swept`);
    if (active) {
      try {
        process.kill(-active.pid, sig);
      } catch {
        /* gone already */
      }
    }
  });
}

/** Runs argv in its own process group (so a Ctrl-C reaches it once, through us), collecting its output. */
function run(argv, cwd) {
  const [cmd, ...rest] = argv;
  return new Promise((resolve) => {
    const child = spawn(cmd, rest, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    active = child;
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => {
      active = undefined;
      resolve({ code: 1, out: `${out}${e.message}` });
    });
    child.on('close', (code, signal) => {
      active = undefined;
      resolve({ code: code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : 1), out });
    });
  });
}

// the scratch copy: what is committed, installed from the store, built
const scratch = mkdtempSync(path.join(os.tmpdir(), 'cni-demo-mutation-'));
log(`scratch copy of HEAD: ${scratch}; test roots in ${tmpRoot}`);
let restore; // puts the mutated file back, while one is mutated
const leftovers = [];

/** What the tests left on the host, removed and noted (none is the expectation: their cleanup must hold). */
async function sweepAfter(what) {
  const r = await run(
    [process.execPath, 'packages/testkit/dist/scripts/sweep.mjs', '--prefix', 'mut', '--net4', net4, '--tmp', tmpRoot],
    scratch,
  );
  if (r.code === 0) return;
  const lines = r.out.trim();
  leftovers.push(`after ${what}:\n${lines.replace(/^/gm, '    ')}`);
  log(`LEFT ON THE HOST after ${what} (now removed):\n${lines.replace(/^/gm, '    ')}`);
}

/** Puts back what is mutated, sweeps, removes the folders (the scratch copy stays with --keep), exits. */
async function finish(code) {
  if (restore) await restore();
  if (existsSync(path.join(scratch, 'packages/testkit/dist/scripts/sweep.mjs'))) {
    await sweepAfter(stopped ? `the run stopped by ${stopped}` : 'the run');
    const check = await run(
      [process.execPath, 'packages/testkit/dist/scripts/sweep.mjs', '--prefix', 'mut', '--net4', net4, '--tmp', tmpRoot, '--dry-run'],
      scratch,
    );
    if (check.code !== 0) log(`error: still on the host after the sweep:\n${check.out}`);
    if (check.code !== 0 || leftovers.length > 0) code = 1;
  }
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${tmpRoot}/`);
  if (mounted) log(`note: something is still mounted under ${tmpRoot}; left in place`);
  else rmSync(tmpRoot, { recursive: true, force: true });
  if (!keep) rmSync(scratch, { recursive: true, force: true });
  process.exit(stopped ? 128 + SIGNALS[stopped] : code);
}

async function must(argv, cwd, what) {
  const r = await run(argv, cwd);
  if (stopped) await finish(1);
  if (r.code !== 0) {
    log(`error: ${what} failed (${argv.join(' ')}):\n${r.out.slice(-3000)}`);
    await finish(1);
  }
}

const archive = spawnSync('git', ['-C', REPO, 'archive', '--format=tar', 'HEAD'], { maxBuffer: 512 * 1024 * 1024 });
if (archive.status !== 0) {
  log(`error: git archive failed: ${archive.stderr}`);
  await finish(1);
}
const untar = spawnSync('tar', ['-x', '-C', scratch], { input: archive.stdout });
if (untar.status !== 0) {
  log(`error: tar failed: ${untar.stderr}`);
  await finish(1);
}
await must(['pnpm', 'install', '--frozen-lockfile', '--prefer-offline'], scratch, 'pnpm install');
await must(['pnpm', 'turbo', 'run', 'build', '--output-logs=errors-only'], scratch, 'the first build');

const build = (pkg) =>
  pkg ? run(['pnpm', 'turbo', 'run', 'build', `--filter=...@cni-demo/${pkg}`, '--output-logs=errors-only'], scratch) : { code: 0, out: '' };
const test = (t) => run([process.execPath, 'scripts/test-all.mjs', t[0], t[1]], scratch);

// every selection passes unmutated first
const selections = [...new Map(chosen.flatMap((m) => m.tests).map((t) => [sel(t), t])).values()];
for (const t of selections) {
  const r = await test(t);
  if (stopped) await finish(1);
  log(`baseline  ${sel(t).padEnd(50)} ${r.code === 0 ? 'passes' : 'FAILS'}  (${lastLine(r.out)})`);
  await sweepAfter(`the baseline of ${sel(t)}`);
  if (r.code !== 0) {
    log(`error: ${sel(t)} fails without any mutation, so it cannot show one is caught:\n${r.out.slice(-3000)}`);
    await finish(1);
  }
}

const results = [];
for (const m of chosen) {
  const file = path.join(scratch, m.file);
  const original = readFileSync(file, 'utf8');
  const why = misfit(m, scratch);
  if (why) {
    results.push({ m, caught: false, note: `the mutation no longer fits (${why}): update it` });
    continue;
  }
  writeFileSync(file, original.replace(m.from, m.to));
  restore = async () => {
    restore = undefined;
    writeFileSync(file, original);
    const b = await build(m.pkg);
    if (b.code !== 0) log(`error: the unmutated ${m.pkg} did not build again:\n${b.out.slice(-1500)}`);
  };
  const b = await build(m.pkg);
  if (stopped) await finish(1);
  if (b.code !== 0) {
    results.push({ m, caught: false, note: `the mutated code does not build (make it a change that compiles):\n${b.out.slice(-1500)}` });
  } else {
    const runs = [];
    for (const t of m.tests) {
      runs.push({ t, r: await test(t) });
      if (stopped) await finish(1);
    }
    const red = runs.filter((x) => x.r.code !== 0);
    results.push({
      m,
      caught: red.length > 0,
      note: runs.map((x) => `${sel(x.t)}: ${x.r.code === 0 ? 'still green' : 'red'} (${lastLine(x.r.out)})`).join('; '),
    });
  }
  // the product is whole again before the sweep runs on it
  await restore();
  await sweepAfter(`"${m.name}"`);
  const r = results.at(-1);
  log(`${r.caught ? 'caught  ' : 'MISSED  '}${m.name}: ${r.note}`);
}

const missed = results.filter((r) => !r.caught);
log(`\n${results.length - missed.length} of ${results.length} mutations caught`);
for (const r of missed) log(`  missed: ${r.m.name} (${r.m.why}): ${r.note}`);
if (leftovers.length > 0)
  log(`\nthe tests left things on the host ${leftovers.length} time(s) (removed by the sweep): their cleanup has a hole`);
await finish(missed.length === 0 && leftovers.length === 0 ? 0 : 1);
