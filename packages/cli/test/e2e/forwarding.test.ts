import path from 'node:path';
import { type Config, instanceKey, names } from '@cni-demo/core';
import {
  forceTeardown,
  FORWARDING_OFF,
  FORWARDING_ON,
  type NetnsObservation,
  observation,
  privateNetns,
  removeRoot,
  testConfig,
  withCleanup,
  writeConfigFile,
  cliArgv,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The forwarding sysctls the bridge plugin turns on belong to the network namespace, shared by every instance
 * in it whatever its state folder: the host record notes them before the first instance and the last one out
 * puts them back, also when its run folder was lost. Each case runs the demo inside a private namespace (its
 * own sysctls, its own record), so what it sees is its own effect, from a starting point it chose, whatever
 * other tests on this host do to the host's sysctls.
 */
const up = (file: string) => cliArgv('up', file);
const down = (file: string) => cliArgv('down', file);

const at = observation;
const holders = (o: NetnsObservation) => Object.keys(o.record?.instances ?? {}).sort();
const leasesDir = (c: Config) => path.join(c.ipamDataDir, c.network);

async function instances(n: number, overrides: (first: Config) => Record<string, unknown> = () => ({})) {
  const out: { root: string; config: Config; file: string }[] = [];
  for (let i = 0; i < n; i++) {
    const first = out[0]?.config;
    const { root, config } = await testConfig(first ? overrides(first) : {});
    out.push({ root, config, file: writeConfigFile(root, config) });
  }
  return out;
}

for (const [start, before] of [
  ['off', FORWARDING_OFF],
  ['on', FORWARDING_ON],
] as const) {
  test(`forwarding ${start} at the start: two instances with different state roots overlap; the last one out restores`, async () => {
    const [a, b] = await instances(2);
    if (!a || !b) throw new Error('two instances');
    await withCleanup(async (cl) => {
      for (const x of [a, b]) {
        cl.add('remove temp root', () => removeRoot(x.root));
        cl.add('force teardown', () => forceTeardown(x.config));
      }
      const ns = await privateNetns(cl);
      const obs = await ns.run({
        watch: [names(a.config).confFile, leasesDir(a.config)],
        steps: [
          { label: 'set', set: before },
          { label: 'a up', run: up(a.file) },
          { label: 'b up', run: up(b.file) },
          { label: 'a down', run: down(a.file) },
          { label: 'b down', run: down(b.file) },
        ],
      });
      assert.equal(at(obs, 'set').sysctls, before, 'the namespace starts where the test put it');
      assert.equal(at(obs, 'a up').sysctls, FORWARDING_ON, 'the bridge plugin turned forwarding on');
      assert.equal(at(obs, 'a up').record?.sysctlsBefore, before, 'the record noted the values from before');
      assert.is(at(obs, 'a up').record?.netns, ns.netns, 'the record is the namespace’s');
      assert.equal(holders(at(obs, 'b up')), [instanceKey(names(a.config).runDir), instanceKey(names(b.config).runDir)].sort());
      assert.equal(at(obs, 'a down').sysctls, FORWARDING_ON, 'b still runs: forwarding stays on');
      assert.equal(holders(at(obs, 'a down')), [instanceKey(names(b.config).runDir)]);
      assert.equal(at(obs, 'b down').sysctls, before, 'the last one out put forwarding back');
      assert.is(at(obs, 'b down').record, null, 'no record left');
      assert.equal(Object.values(at(obs, 'b down').exists), [false, false], 'network config and lease folder removed');
    });
  });
}

test('forwarding off, the run folder lost before down: down still restores forwarding, removes the config file and the lease folder', async () => {
  const [a] = await instances(1);
  if (!a) throw new Error('one instance');
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(a.root));
    cl.add('force teardown', () => forceTeardown(a.config));
    const ns = await privateNetns(cl);
    const conf = names(a.config).confFile;
    const leases = leasesDir(a.config);
    const obs = await ns.run({
      watch: [conf, leases],
      steps: [
        { label: 'set', set: FORWARDING_OFF },
        { label: 'up', run: up(a.file) },
        { label: 'lose the run folder', rm: names(a.config).runDir },
        { label: 'down', run: down(a.file) },
        { label: 'up again', run: up(a.file) },
        { label: 'down again', run: down(a.file) },
      ],
    });
    assert.equal(at(obs, 'up').exists, { [conf]: true, [leases]: true });
    assert.equal(at(obs, 'lose the run folder').sysctls, FORWARDING_ON);
    assert.equal(at(obs, 'down').sysctls, FORWARDING_OFF, 'forwarding back off');
    assert.equal(at(obs, 'down').exists, { [conf]: false, [leases]: false }, 'config file and lease folder gone');
    assert.is(at(obs, 'down').record, null, 'no record left');
    // a later run starts afresh: it counts the file and the folder as its own again
    assert.equal(at(obs, 'up again').record?.instances[instanceKey(names(a.config).runDir)]?.createdDirs.includes(leases), true);
    assert.equal(at(obs, 'down again').sysctls, FORWARDING_OFF);
    assert.equal(at(obs, 'down again').exists, { [conf]: false, [leases]: false });
  });
});

test('forwarding off, two instances on one bridge (the second adopts it): forwarding stays on until both are down', async () => {
  // the second shares the first's bridge, subnets, network and roots for the config file, leases and CNI cache
  const [a, b] = await instances(2, (f) => ({
    bridge: f.bridge,
    network: f.network,
    subnet4: f.subnet4,
    gateway4: f.gateway4,
    subnet6: f.subnet6,
    gateway6: f.gateway6,
    confDir: f.confDir,
    ipamDataDir: f.ipamDataDir,
    cniCacheDir: f.cniCacheDir,
  }));
  if (!a || !b) throw new Error('two instances');
  await withCleanup(async (cl) => {
    for (const x of [a, b]) {
      cl.add('remove temp root', () => removeRoot(x.root));
      cl.add('force teardown', () => forceTeardown(x.config));
    }
    const ns = await privateNetns(cl);
    const obs = await ns.run({
      watch: [names(a.config).confFile, leasesDir(a.config)],
      steps: [
        { label: 'set', set: FORWARDING_OFF },
        { label: 'a up', run: up(a.file) },
        { label: 'b up', run: up(b.file) },
        { label: 'b down', run: down(b.file) },
        { label: 'a down', run: down(a.file) },
      ],
    });
    const bEntry = at(obs, 'b up').record?.instances[instanceKey(names(b.config).runDir)];
    assert.is(bEntry?.createdBridge, false, 'b adopted the bridge');
    assert.is(bEntry?.conf, undefined, 'b found the config file there');
    assert.equal(at(obs, 'b down').sysctls, FORWARDING_ON, 'a still runs');
    assert.equal(at(obs, 'b down').exists, { [names(a.config).confFile]: true, [leasesDir(a.config)]: true }, "a's file and folder stay");
    assert.equal(at(obs, 'a down').sysctls, FORWARDING_OFF);
    assert.is(at(obs, 'a down').record, null);
    assert.equal(Object.values(at(obs, 'a down').exists), [false, false]);
  });
});

test.run();
