import path from 'node:path';
import { containerIds, createExec, instanceRecord, readTable, ruleArg } from '@cni-demo/core';
import { forceTeardown, hostSnapshot, ownSnapshotDiff, removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineUp } from '../../src/pipeline.js';

/**
 * The forced teardown every host-touching test registers is what cleans the host when the test fails before its
 * down (or never runs one, as verify-catches.test.ts): whatever a real up made must go with it alone. Runs of the
 * suite once left portmap's per-container DNAT chains and their jumps behind this way.
 */
const exec = createExec();

test('forceTeardown alone after a real up (two containers, a port map, the firewall plugin): nothing of the instance left', async () => {
  const hostPort = 18700 + Math.floor(Math.random() * 100);
  const { root, config, ctx } = await testConfig({ containers: 2, portMap: `${hostPort}:80/tcp`, firewall: 'on' });
  const before = await hostSnapshot(exec, config);
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    await pipelineUp(ctx);
    // what the plugins made is there (so the comparison below shows it went): a masquerade jump and a DNAT jump
    // per container carrying its network and id, and a firewall rule for each container's address
    const nat = await readTable(exec, 'iptables', 'nat');
    const comments = (nat?.rules ?? []).map((r) => ruleArg(r, '--comment') ?? '');
    for (const id of containerIds(config)) {
      assert.ok(comments.includes(`name: "${config.network}" id: "${id}"`), `the masquerade jump of ${id}`);
    }
    assert.ok(
      comments.some((m) => m.startsWith(`dnat name: "${config.network}" id: `)),
      `the DNAT jump of the httpd container:\n${comments.join('\n')}`,
    );
    const v4 = config.subnet4.replace(/\.0\/24$/, '.');
    const filter = await readTable(exec, 'iptables', 'filter');
    assert.ok(
      filter?.rules.some((r) => r.chain === 'CNI-FORWARD' && r.line.includes(v4)),
      'the firewall accepts the containers',
    );

    await forceTeardown(config, exec);
    // the instance's files are the temp root's (removed next); everything else is as it was before the up
    const after = await hostSnapshot(exec, config);
    delete before.files;
    delete after.files;
    assert.is(ownSnapshotDiff(before, after, config), '', 'the host as found');
    assert.is(instanceRecord(path.join(config.stateDir, config.id)), undefined, 'no entry left in the host record');
  });
});

test.run();
