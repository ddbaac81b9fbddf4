import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExec } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkVagrantfile, provisioners } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const vagrantfile = readFileSync(path.join(repoRoot, 'Vagrantfile'), 'utf8');
const provisionSh = path.join(repoRoot, 'scripts/provision.sh');

test('the Vagrantfile provisions deps and demo through scripts/provision.sh, each with its rerun command', () => {
  assert.equal(checkVagrantfile(vagrantfile), []);
  const names = provisioners(vagrantfile).map((p) => p.name);
  assert.equal(names, ['deps', 'demo']);
  for (const p of provisioners(vagrantfile)) assert.match(p.text, /scripts\/provision\.sh/);
});

test('the Vagrantfile: Debian 12 box, both providers, CPUs, memory and NODES from the environment', () => {
  assert.match(vagrantfile, /debian\/bookworm64/);
  assert.match(vagrantfile, /provider\s+"virtualbox"/);
  assert.match(vagrantfile, /provider\s+"libvirt"/);
  for (const env of ['VM_CPUS', 'VM_MEMORY', 'NODES']) assert.match(vagrantfile, new RegExp(`ENV\\.fetch\\("${env}"`));
});

test('a provisioner that bypasses provision.sh, runs the wrong mode or is missing is reported', () => {
  const bypass = vagrantfile.replace(
    /(\.vm\.provision "demo",[^\n]*\n?)(?:[^\n]*,\s*\n)*[^\n]*/,
    '.vm.provision "demo", type: "shell", inline: "cd /vagrant && pnpm turbo run demo"',
  );
  assert.ok(checkVagrantfile(bypass).some((p) => /"demo" does not run scripts\/provision\.sh/.test(p)));
  const wrongMode = vagrantfile.replace(/provision\.sh deps/, 'provision.sh test');
  assert.ok(checkVagrantfile(wrongMode).some((p) => /"deps" runs provision.sh mode "test"/.test(p)));
  const missing = vagrantfile.replace(/\.vm\.provision "deps"/, '.vm.provision "setup"');
  assert.ok(checkVagrantfile(missing).includes('no provisioner named "deps"'));
});

test('provision.sh: valid bash, and an unknown mode fails before it changes anything', async () => {
  const exec = createExec();
  assert.is((await exec('bash', ['-n', provisionSh])).exitCode, 0);
  const r = await exec('bash', [provisionSh, 'no-such-mode'], { allowFail: true });
  assert.is(r.exitCode, 1);
  assert.match(r.stderr, /unknown mode "no-such-mode"/);
});

test.run();
