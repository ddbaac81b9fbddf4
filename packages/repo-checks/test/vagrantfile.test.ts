import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExec, envName, nodeRoutes, nodeSubnets, resolveConfig, UNDERLAY_HOST_OFFSET, underlayAddress } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkVagrantfile, provisioners, vagrantNodes } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const vagrantfile = readFileSync(path.join(repoRoot, 'Vagrantfile'), 'utf8');
const provisionSh = path.join(repoRoot, 'scripts/provision.sh');

test('the Vagrantfile provisions deps, demo and down through scripts/provision.sh, each with its rerun command', () => {
  assert.equal(checkVagrantfile(vagrantfile), []);
  const names = provisioners(vagrantfile).map((p) => p.name);
  assert.equal(names, ['deps', 'demo', 'down']);
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

test('down runs only when asked for (run: "never"); deps and demo always run', () => {
  assert.match(provisioners(vagrantfile).find((p) => p.name === 'down')?.text ?? '', /run: "never"/);
  const always = vagrantfile.replace(/run: "never", /, '');
  assert.ok(checkVagrantfile(always).some((p) => /provisioner "down" must have run: "never"/.test(p)));
  const skipped = vagrantfile.replace(/(\.vm\.provision "demo", )/, '$1run: "never", ');
  assert.ok(checkVagrantfile(skipped).some((p) => /provisioner "demo" has run: "never"/.test(p)));
});

test('NODES=N: VM i is node i through the shared code: its env names config fields, its address is the underlay rule', () => {
  const v = vagrantNodes(vagrantfile);
  assert.is(v.hostOffset, UNDERLAY_HOST_OFFSET, "the Vagrantfile's offset is cni-demo's");
  assert.ok(v.privateNetworkByRule, 'the private network address is underlay_ip(i)');
  assert.equal(v.envNames, [envName('nodes'), envName('nodeIndex'), envName('underlaySubnet')]);
  for (const nodes of [2, 3, 50]) {
    for (let i = 1; i <= nodes; i++) {
      // what VM i's provisioner gives cni-demo, resolved as cni-demo resolves it
      const env = {
        [envName('nodes')]: String(nodes),
        [envName('nodeIndex')]: String(i),
        [envName('underlaySubnet')]: v.underlaySubnet ?? '',
      };
      const { config } = resolveConfig({ env });
      const base = (v.underlaySubnet ?? '').split('/')[0]?.split('.').slice(0, 3).join('.');
      assert.is(
        underlayAddress(config, i),
        `${base}.${(v.hostOffset ?? 0) + i}`,
        'the address Vagrant gives VM i is the one cni-demo expects',
      );
      // the rule the Vagrantfile spelled out before: node i on 192.168.(198+i).0/24 and fde4:8dba:82e1:(i-1)::/64
      const s = nodeSubnets(config, i);
      assert.is(s.subnet4, `192.168.${198 + i}.0/24`);
      assert.is(s.subnet6, `fde4:8dba:82e1:${i === 1 ? '' : `${(i - 1).toString(16)}:`}:/64`);
      assert.is(nodeRoutes(config, i).length, 2 * (nodes - 1));
    }
  }
});

test('provision.sh: valid bash, and an unknown mode fails before it changes anything', async () => {
  const exec = createExec();
  assert.is((await exec('bash', ['-n', provisionSh])).exitCode, 0);
  const r = await exec('bash', [provisionSh, 'no-such-mode'], { allowFail: true });
  assert.is(r.exitCode, 2, 'a usage error');
  assert.match(r.stderr, /unknown mode "no-such-mode"/);
});

test('provision.sh link: cni-demo and cni-tool linked into the bin folder, runnable, idempotent; a file in the way is kept', async () => {
  const exec = createExec();
  const bin = mkdtempSync(path.join(os.tmpdir(), 'provision-bin-'));
  try {
    const env = { PROVISION_BIN_DIR: bin };
    assert.is((await exec('bash', [provisionSh, 'link'], { env })).exitCode, 0);
    assert.is(readlinkSync(path.join(bin, 'cni-demo')), path.join(repoRoot, 'packages/cli/dist/scripts/cni-demo.mjs'));
    assert.is(readlinkSync(path.join(bin, 'cni-tool')), path.join(repoRoot, 'packages/cni/dist/scripts/cni-tool.mjs'));
    assert.match((await exec(path.join(bin, 'cni-demo'), ['--version'])).stdout, /^cni-demo \d+\.\d+\.\d+/);
    assert.match((await exec(path.join(bin, 'cni-tool'), ['--version'])).stdout, /^cni-tool \d+\.\d+\.\d+/);
    assert.is((await exec('bash', [provisionSh, 'link'], { env })).exitCode, 0, 'a second run is fine');
    rmSync(path.join(bin, 'cni-tool'));
    writeFileSync(path.join(bin, 'cni-tool'), 'mine\n');
    const r = await exec('bash', [provisionSh, 'link'], { env, allowFail: true });
    assert.is(r.exitCode, 1);
    assert.match(r.stderr, /cni-tool exists and is not a link/);
    assert.is(readFileSync(path.join(bin, 'cni-tool'), 'utf8'), 'mine\n', 'left as it was');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test.run();
