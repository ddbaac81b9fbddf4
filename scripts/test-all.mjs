#!/usr/bin/env node
// Runs every package's uvu suite (compiled tests in dist/test), one package at a time, and ends with the
// one line CI reads: "N passed, N failed", summed over all packages. Exit code 1 on any failure.
// Usage: node scripts/test-all.mjs [package-name-filter]
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv[2];
const pkgsDir = path.join(root, 'packages');
// biome-ignore lint/suspicious/noControlCharactersInRegex: it strips the ANSI colour codes uvu prints
const ansi = /\x1b\[[0-9;]*m/g;

// colours only on a terminal; CI logs stay plain so the closing line is easy to read
function colorEnv() {
  const env = { ...process.env };
  delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  if (process.stdout.isTTY) env.FORCE_COLOR = '1';
  else env.NO_COLOR = '1';
  return env;
}

let passed = 0;
let failed = 0;
let skipped = 0;
const broken = [];

for (const name of readdirSync(pkgsDir).sort()) {
  const dir = path.join(pkgsDir, name);
  const pkgFile = path.join(dir, 'package.json');
  if (!existsSync(pkgFile)) continue;
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  if (!pkg.scripts?.test) continue;
  if (filter && !name.includes(filter)) continue;
  const testDir = path.join(dir, 'dist', 'test');
  // only the suites whose source exists: a suite moved or removed leaves its compiled copy in dist (tsc never
  // deletes, and a turbo cache hit restores files on top), and that copy must not run
  const sources = existsSync(path.join(dir, 'test'))
    ? readdirSync(path.join(dir, 'test'), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.test.ts'))
    : [];
  if (sources.length === 0) continue;
  const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = `^(?:${sources.map((f) => reEscape(f.replace(/\.ts$/, '.js'))).join('|')})$`;
  if (!existsSync(testDir)) {
    broken.push(`${name}: tests not built (run pnpm build)`);
    failed += 1;
    continue;
  }
  process.stdout.write(`\n=== ${pkg.name} ===\n`);
  const uvu = path.join(dir, 'node_modules', 'uvu', 'bin.js');
  const out = await new Promise((resolve) => {
    const child = spawn(process.execPath, [uvu, 'dist/test', pattern], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: colorEnv(),
    });
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      process.stdout.write(d);
    });
    child.on('close', (code) => resolve({ code, text: text.replace(ansi, '') }));
  });
  const num = (label) => Number((new RegExp(`${label}:\\s+(\\d+)`).exec(out.text) ?? [])[1] ?? Number.NaN);
  // uvu prints one Total/Passed/Skipped block per run; a suite file that crashes before it prints none
  const total = num('Total');
  const ok = num('Passed');
  const skip = num('Skipped');
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    broken.push(`${name}: the test run ended without a summary (exit ${out.code})`);
    failed += 1;
    continue;
  }
  passed += ok;
  skipped += Number.isNaN(skip) ? 0 : skip;
  let fails = total - ok - (Number.isNaN(skip) ? 0 : skip);
  if (out.code !== 0 && fails === 0) {
    broken.push(`${name}: exited ${out.code} although every test passed`);
    fails = 1;
  }
  failed += fails;
}

for (const b of broken) process.stdout.write(`broken: ${b}\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed > 0 ? 1 : 0;
