import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * What the shipped code may not do at all: build code from strings, make anything world-writable, or download
 * anything itself (apt verifies packages; a registry pull verifies digests). Shell command strings have a
 * check of their own (shell-strings.ts, run by pnpm lint).
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const PACKAGES_DIR = path.join(REPO, 'packages');

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
  [/\beval\(|new Function\(/, 'code built from strings'],
  [/chmod\s+0?777|0o777|0o666|0o?1777/, 'world-writable permissions'],
  [/\bfetch\(|https?\.(get|request)\(|['"](curl|wget)['"]/, 'a download of our own (none is pinned to a SHA-256)'],
];

test('no code built from strings, world-writable mode or unpinned download anywhere in packages/*/src, scripts', () => {
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
  const bad = ['const f = new Function(body)', 'eval(code)', 'chmodSync(dir, 0o777)', "await fetch('https://example.invalid/x.tgz')"];
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

test.run();
