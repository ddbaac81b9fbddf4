import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { containerIds } from '@cni-demo/core';
import {
  forceTeardown,
  FORWARDING_OFF,
  observedSnapshot,
  pluginNames,
  privateNetns,
  removeRoot,
  snapshotDiff,
  testConfig,
  withCleanup,
  writeConfigFile,
  cliArgv,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The forced teardown every host-touching test registers is what cleans the host when the test fails before its
 * down (or never runs one, as verify-catches.test.ts): whatever a real up made must go with it alone. Runs of the
 * suite once left portmap's per-container DNAT chains and their jumps behind this way. In a private network
 * namespace, so the comparison is the whole snapshot, shared chains included, with no other developer's tests
 * making or removing them meanwhile.
 */
const teardown = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'force-teardown.js');

const snap = observedSnapshot;

test('forceTeardown alone after a real up (two containers, a port map, the firewall plugin): the netns as before, shared chains included', async () => {
  const hostPort = 18700 + Math.floor(Math.random() * 100);
  const { root, config } = await testConfig({ containers: 2, portMap: `${hostPort}:80/tcp`, firewall: 'on' });
  const file = writeConfigFile(root, config);
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config));
    const ns = await privateNetns(c);
    const obs = await ns.run({
      watch: [],
      snapshot: config,
      steps: [
        { label: 'set', set: FORWARDING_OFF, run: ['ip', 'link', 'set', 'lo', 'up'] },
        { label: 'up', run: cliArgv('up', file) },
        { label: 'force teardown', run: [process.execPath, teardown, file] },
      ],
    });
    // what the plugins made is there after the up (so the comparison below shows it went)
    const upped = snap(obs, 'up');
    for (const id of containerIds(config)) {
      const mine = pluginNames(config.network, id);
      assert.match(upped.iptables ?? '', new RegExp(`^nat :${mine.masqChain} -$`, 'm'), `the masquerade chain of ${id}`);
    }
    assert.match(upped.iptables ?? '', /^nat -A CNI-HOSTPORT-DNAT .*dnat name: .*-j CNI-DN-/m, 'a DNAT jump');
    assert.match(upped.iptables ?? '', /^filter :CNI-FORWARD -$/m, 'the firewall’s chain');
    assert.ok(obs.find((o) => o.label === 'up')?.record, 'the instance joined the namespace’s host record');

    const start = snap(obs, 'set');
    const after = snap(obs, 'force teardown');
    // the instance's files are the temp root's (removed next); everything else is as it was before the up
    delete start.files;
    delete after.files;
    assert.is(snapshotDiff(start, after), '', 'links, addresses, routes, iptables, sysctls and mounts as at the start');
    assert.is(obs.find((o) => o.label === 'force teardown')?.record, null, 'the host record is gone with its only entry');
  });
});

test.run();
