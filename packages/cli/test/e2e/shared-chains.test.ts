import { createExec, removeSharedChainsWith, sharedChainsWith } from '@cni-demo/core';
import { forceTeardown, removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../../src/pipeline.js';

/**
 * CNI-ADMIN is the firewall plugin's chain for administrators' rules (issue 14, item 7). An administrator
 * adds a rule to it while the demo runs, even when the demo's firewall plugin made the chain: down must
 * leave the rule (and the chain) in place, and remove only the demo's own rules.
 */
const exec = createExec();

test("down keeps an administrator's rule in CNI-ADMIN, even in a CNI-ADMIN the demo made", async () => {
  const before = await sharedChainsWith(exec);
  const hostPort = 18600 + Math.floor(Math.random() * 100);
  const { root, config, ctx } = await testConfig({ portMap: `${hostPort}:80/tcp`, firewall: 'on' });
  // the administrator's rule: it names this test's own subnet and id, so nothing else matches or sees it
  const adminRule = ['CNI-ADMIN', '-s', config.subnet4, '-m', 'comment', '--comment', `admin rule ${config.id}`, '-j', 'ACCEPT'];
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('remove the admin rule and the chains the test made', async () => {
      await exec('iptables', ['-D', ...adminRule], { allowFail: true });
      await removeSharedChainsWith(exec, before);
    });
    c.add('force teardown', () => forceTeardown(config, exec));
    await pipelineUp(ctx);
    assert.match((await exec('iptables-save', ['-t', 'filter'])).stdout, /^:CNI-ADMIN /m, 'the firewall plugin made or found CNI-ADMIN');
    await exec('iptables', ['-A', ...adminRule]);

    await pipelineDown(ctx);
    const after = (await exec('iptables-save', ['-t', 'filter'])).stdout;
    assert.ok(
      after.includes(`-A CNI-ADMIN -s ${config.subnet4} -m comment --comment "admin rule ${config.id}" -j ACCEPT`),
      'the admin rule is still there',
    );
    assert.not.match(
      after,
      new RegExp(`${config.subnet4.split('/')[0]?.split('.').slice(0, 3).join('\\.')}\\.\\d+/32`),
      "the demo's own per-container rules are gone",
    );

    // once the administrator's rule is gone, the chains the demo made (if it made them) go as well
    await exec('iptables', ['-D', ...adminRule]);
    await removeSharedChainsWith(exec, before);
    const last = (await exec('iptables-save', ['-t', 'filter'])).stdout;
    if (!before.includes('iptables filter CNI-ADMIN') && !/^-A CNI-FORWARD (?!.*-j CNI-ADMIN)/m.test(last)) {
      assert.not.match(last, /^:CNI-ADMIN /m, 'an empty CNI-ADMIN the demo made is removed');
    }
  });
});

test.run();
