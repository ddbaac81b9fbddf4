import { lstatSync, readdirSync, readFileSync, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import { createExec, names, STEPS } from '@cni-demo/core';
import { forceTeardown, PACKAGES_DIR, removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../src/pipeline.js';

/**
 * Security guarantees that hold at run time: no shell ever sees a command built from input, state is
 * private to root (files 0600, folders 0700), nothing the demo creates is world-writable, and the
 * project downloads nothing itself (apt verifies packages; a registry pull verifies digests).
 */
const exec = createExec();
const REPO = path.dirname(PACKAGES_DIR);

function sources(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e);
      if (lstatSync(p).isDirectory()) walk(p);
      else if (/\.(m?ts|m?js|sh)$/.test(e) && !e.endsWith('.d.ts')) out.push(p);
    }
  };
  // product code only: testkit (test helpers, whose one fetch polls a loopback registry) and repo-checks
  // (the shell-string scanner, whose comments quote the patterns it hunts) are not shipped
  for (const pkg of readdirSync(PACKAGES_DIR).filter((p) => p !== 'testkit' && p !== 'repo-checks')) {
    for (const d of ['src', 'scripts']) walk(path.join(PACKAGES_DIR, pkg, d));
  }
  walk(path.join(REPO, 'scripts'));
  return out;
}

const RULES: [RegExp, string][] = [
  [/shell:\s*true/, 'a child process started through a shell'],
  [
    /import\s*{[^}]*\b(exec|execSync)\b[^}]*}\s*from\s*['"](node:)?child_process['"]/,
    'child_process exec/execSync (they take one shell string)',
  ],
  [/['"](ba|da)?sh['"]\s*,\s*\[?\s*['"]-c['"]/, 'a command string handed to sh -c'],
  [/\bexec\(\s*(['"])[^'"]*\s[^'"]*\1/, 'a command name with spaces: a command line as one string'],
  [/\bexec\(\s*`[^`]*\s[^`]*`/, 'a command line built in a template string'],
  [/\beval\(|new Function\(/, 'code built from strings'],
  [/chmod\s+0?777|0o777|0o666|0o?1777/, 'world-writable permissions'],
  [/\bfetch\(|https?\.(get|request)\(|['"](curl|wget)['"]/, 'a download of our own (none is pinned to a SHA-256)'],
];

test('no shell command string, world-writable mode or unpinned download anywhere in packages/*/src, scripts', () => {
  const files = sources();
  assert.ok(files.length > 40, `found ${files.length} source files`);
  const hits: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    // the rules themselves are quoted in tests only, never in src or scripts
    text.split('\n').forEach((line, i) => {
      for (const [re, why] of RULES) {
        if (!re.test(line)) continue;
        const where = path.relative(REPO, f);
        // verify's probe of the port-mapped httpd: a GET to an address on this host, read and discarded
        if (where === 'packages/verify/src/http.ts' && why.startsWith('a download')) continue;
        hits.push(`${where}:${i + 1}: ${why}: ${line.trim()}`);
      }
    });
  }
  assert.is(hits.join('\n'), '');
});

test('the rules catch what they are for', () => {
  const bad = [
    "spawn('ip', args, { shell: true })",
    "import { execSync } from 'node:child_process';",
    "ctx.exec('sh', ['-c', cmd])",
    "ctx.exec('ip link del ' + name)",
    'ctx.exec(`ip link del ${name}`)',
    'chmodSync(dir, 0o777)',
    "await fetch('https://example.invalid/x.tgz')",
  ];
  for (const b of bad)
    assert.ok(
      RULES.some(([re]) => re.test(b)),
      `caught: ${b}`,
    );
  for (const good of ["ctx.exec('ip', ['link', 'del', name])", 'mkdirSync(d, { mode: 0o700 })']) {
    assert.not.ok(
      RULES.some(([re]) => re.test(good)),
      `allowed: ${good}`,
    );
  }
});

function walk(dir: string, fn: (p: string, st: Stats) => void): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e);
    const st = lstatSync(p);
    fn(p, st);
    if (st.isDirectory()) walk(p, fn);
  }
}

test('a real run: state files 0600, state folders 0700, CNI cache private, nothing world-writable', async () => {
  const { root, config, ctx } = await testConfig();
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(root));
    cl.add('force teardown', () => forceTeardown(config, exec));
    await pipelineUp(ctx);
    const n = names(config);
    const mode = (p: string) => statSync(p).mode & 0o777;
    assert.is(mode(config.stateDir) & 0o077, 0, 'state root private');
    assert.is(mode(n.runDir), 0o700, 'instance folder 0700');
    const stateFiles = readdirSync(n.runDir).filter((f) => f.endsWith('.json'));
    assert.ok(
      STEPS.every((s) => stateFiles.includes(`${s}.json`)),
      `every step wrote its state: ${stateFiles}`,
    );
    for (const f of stateFiles) assert.is(mode(path.join(n.runDir, f)), 0o600, `${f} is 0600`);
    assert.is(mode(path.join(n.runDir, 'cni-attach.conflist')), 0o600, 'conflist copy 0600');
    const results = path.join(config.cniCacheDir, 'results');
    assert.is(mode(results), 0o700, 'CNI cache folder 0700');
    for (const f of readdirSync(results)) assert.is(mode(path.join(results, f)), 0o600, `cache ${f} 0600`);
    const worldWritable: string[] = [];
    walk(root, (p, st) => {
      if (!st.isSymbolicLink() && (st.mode & 0o002) !== 0) worldWritable.push(p);
    });
    assert.equal(worldWritable, [], 'no world-writable path');
    await pipelineDown(ctx);
  });
});

test.run();
