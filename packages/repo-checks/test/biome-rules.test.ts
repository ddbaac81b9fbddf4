import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExec } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const biome = path.join(repoRoot, 'node_modules/@biomejs/biome/bin/biome');
const exec = createExec();

/** A scratch project with the repository's Biome config and plugins, and one planted source file. */
async function lintPlanted(source: string): Promise<{ exitCode: number; findings: string[] }> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'biome-rules-'));
  for (const f of ['biome.json', 'biome-plugins', '.gitignore']) cpSync(path.join(repoRoot, f), path.join(root, f), { recursive: true });
  mkdirSync(path.join(root, 'packages/planted/src'), { recursive: true });
  writeFileSync(path.join(root, 'packages/planted/src/planted.ts'), source);
  const r = await exec(process.execPath, [biome, 'lint', '--reporter=github', '.'], { cwd: root, allowFail: true });
  // ::error title=<rule>,file=...,line=<n>,...
  const findings = [...r.stdout.matchAll(/^::error title=([^,]+),file=[^,]+,line=(\d+)/gm)].map((m) => `${m[2]}:${m[1]}`);
  return { exitCode: r.exitCode, findings };
}

test('biome lint refuses exec/execSync imports and a shell option, at their lines', async () => {
  const r = await lintPlanted(
    [
      "import { execSync, spawn } from 'node:child_process';",
      "export const a = spawn('ls', [], { shell: true });",
      "export const b = spawn('ls', [], { shell: '/bin/sh' });",
      'export const c = execSync;',
      '',
    ].join('\n'),
  );
  assert.is(r.exitCode, 1);
  assert.equal(r.findings.sort(), ['1:lint/style/noRestrictedImports', '2:plugin', '3:plugin']);
});

test('biome lint accepts argv-style calls and shell: false', async () => {
  const r = await lintPlanted(
    ["import { spawn } from 'node:child_process';", "export const a = spawn('ip', ['link', 'show'], { shell: false });", ''].join('\n'),
  );
  assert.equal(r.findings, []);
  assert.is(r.exitCode, 0);
});

test.run();
