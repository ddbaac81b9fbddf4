import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExec } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findShellStrings, scanRepo } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../../..');
const cli = path.resolve(here, '../scripts/shell-strings.mjs');

const found = (src: string, file = 'x.ts') => findShellStrings(file, src).map((v) => `${v.line}:${v.rule}`);

test('exec and execSync from child_process are reported at the import and at each call', () => {
  const src = [
    "import { exec, execSync as run, spawn } from 'node:child_process';",
    "exec('ip link');",
    'run(`ip addr show ${dev}`);',
    "spawn('ip', ['link']);",
  ].join('\n');
  assert.equal(found(src), ['1:child-process-exec', '1:child-process-exec', '2:child-process-exec', '3:child-process-exec']);
});

test('a namespace or default import of child_process is caught at .exec(), not at .spawn()', () => {
  const src = ["import * as cp from 'node:child_process';", "cp.execSync('ls');", "cp.spawn('ls', []);"].join('\n');
  assert.equal(found(src), ['2:child-process-exec']);
  assert.equal(found(["import cp from 'child_process';", 'cp.exec(cmd);'].join('\n')), ['2:child-process-exec']);
});

test('any shell option but a literal false is reported, shorthand included', () => {
  const src = [
    "spawn('ip', [], { shell: true });",
    "execa('ip', [], { shell: '/bin/bash' });",
    'const o = { shell };',
    "spawn('ip', [], { shell: false });",
  ].join('\n');
  assert.equal(found(src), ['1:shell-option', '2:shell-option', '3:shell-option']);
});

test('execa: templates, execaCommand and an assembled program are reported; execa(file, args) is not', () => {
  const src = [
    "import { execa, execaCommand, $ as run } from 'execa';",
    'await execa`ip link show ${dev}`;',
    'await execaCommand(`ip link show ${dev}`);',
    'await execa(`ip link show ${dev}`);',
    "await execa('ip ' + dev);",
    "await execa('ip link show');",
    'await run`ip link`;',
    'await execa(cmd, args, { reject: false });',
    "await execa('ip', ['link', 'show', dev]);",
    "await execa({ stdin: 'ignore' })`ip link`;",
  ].join('\n');
  assert.equal(found(src), [
    '2:execa-template',
    '3:execa-command-string',
    '4:execa-command-string',
    '5:execa-command-string',
    '6:execa-command-string',
    '7:zx-template',
    '10:execa-template',
  ]);
});

test('zx: $`...`, $.sync`...` and $({...})`...` are reported, also when $ is a global of a zx script', () => {
  const src = [
    "import { $ as z } from 'zx';",
    'await z`ip link`;',
    '$.sync`ls`;',
    "await $({ cwd: '/' })`ls`;",
    'await $`ls ${dir}`;',
  ].join('\n');
  assert.equal(found(src, 'up.mts'), ['2:zx-template', '3:zx-template', '4:zx-template', '5:zx-template']);
});

test('sh -c with a script built from variables is reported; a literal script is not', () => {
  const src = [
    "await ctx.exec('sh', ['-c', `ip link del ${name}`]);",
    "await ctx.exec('/bin/bash', ['-lc', cmd]);",
    "await ctx.exec('nsenter', [`--net=${ns}`, 'sh', '-c', 'ip addr; ' + more]);",
    "const argv = ['runc', 'exec', id, 'bash', '-c', script];",
    "await ctx.exec('sh', ['-c', ...parts]);",
    "await ctx.exec('sh', ['-c', 'exit 4'], { allowFail: true });",
    "await ctx.exec('grep', ['-c', pattern, file]);",
  ].join('\n');
  assert.equal(found(src), ['1:shell-dash-c', '2:shell-dash-c', '3:shell-dash-c', '4:shell-dash-c', '5:shell-dash-c']);
});

test('look-alikes are not reported: RegExp#exec, ctx.exec with argv, comments, strings, .js files', () => {
  const src = [
    '// never write shell: true or exec(`sh -c ${x}`) here',
    "const m = /^(\\d+)$/.exec('12');",
    "await ctx.exec('ip', ['link', 'add', name, 'type', 'bridge']);",
    "const doc = 'use $`cmd` and { shell: true } never';",
    "const r = await exec('runc', ['--root', root, 'exec', id, ...args]);",
  ].join('\n');
  assert.equal(found(src), []);
  assert.equal(found(src, 'x.mjs'), []);
});

test('the repository itself has no shell command string in any package', () => {
  const { files, violations } = scanRepo(repoRoot);
  assert.ok(files >= 20, `scanned only ${files} files: is ${repoRoot} the repository root?`);
  assert.equal(violations, []);
});

test('the CLI fails on a planted violation, naming file:line, and passes on a clean tree', async () => {
  const exec = createExec();
  const root = mkdtempSync(path.join(os.tmpdir(), 'repo-checks-'));
  mkdirSync(path.join(root, 'packages/planted/src'), { recursive: true });
  mkdirSync(path.join(root, 'packages/planted/scripts'), { recursive: true });
  writeFileSync(path.join(root, 'packages/planted/src/ok.ts'), "export const x = await ctx.exec('ip', ['link']);\n");
  const clean = await exec(process.execPath, [cli, root], { allowFail: true });
  assert.is(clean.exitCode, 0);
  assert.is(clean.stdout, '');

  writeFileSync(
    path.join(root, 'packages/planted/scripts/up.mts'),
    "#!/usr/bin/env zx\nconst dev = 'br0';\nawait $`ip link del ${dev}`;\n",
  );
  const dirty = await exec(process.execPath, [cli, root], { allowFail: true });
  assert.is(dirty.exitCode, 1);
  assert.equal(
    dirty.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(': ')[0]),
    ['packages/planted/scripts/up.mts:3:7'],
  );
});

test.run();
