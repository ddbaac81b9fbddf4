import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { type CniAttachState, createExec, getLink, type VerifyState } from '@cni-demo/core';
import { forceTeardown, hostSnapshot, ownSnapshotDiff, removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../../src/pipeline.js';

const exec = createExec();

test('the whole walkthrough runs for real and down leaves the host as found', async () => {
  const { root, config, ctx } = await testConfig();
  const before = await hostSnapshot(exec, config);
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));

    await pipelineUp(ctx);

    const bridge = await getLink(exec, config.bridge);
    assert.ok(bridge, 'bridge exists');
    assert.is(bridge?.kind, 'bridge');
    const addrs = bridge?.addrs.map((a) => `${a.local}/${a.prefixlen}`) ?? [];
    assert.ok(addrs.includes(`${config.gateway4}/24`), `bridge has ${config.gateway4}: ${addrs}`);
    assert.ok(addrs.includes(`${config.gateway6}/64`), `bridge has ${config.gateway6}: ${addrs}`);

    const pin = path.join(config.netnsDir, config.id);
    assert.ok(existsSync(pin), 'netns pinned');
    const att = ctx.state.read<CniAttachState>('cni-attach');
    assert.ok(att?.ipv4 && att.ipv6, 'result has both families');
    const inside = await exec('nsenter', [`--net=${pin}`, 'ip', '-j', 'addr', 'show', 'dev', 'eth0']);
    const locals = (JSON.parse(inside.stdout) as { addr_info: { local: string }[] }[])[0]?.addr_info.map((a) => a.local) ?? [];
    assert.ok(locals.includes(att?.ipv4 ?? ''), `eth0 has ${att?.ipv4}: ${locals}`);
    assert.ok(locals.includes(att?.ipv6 ?? ''), `eth0 has ${att?.ipv6}: ${locals}`);
    // the host reaches the container over both families (only addresses inside our own netns)
    await exec('ping', ['-4', '-c1', '-W2', att?.ipv4 ?? '']);
    await exec('ping', ['-6', '-c1', '-W2', att?.ipv6 ?? '']);
    const v = ctx.state.read<VerifyState>('verify');
    assert.ok(v?.ok, 'verify passed');
    // every check from the ADD result: addresses, routes, gateway and host pings, and DNS (none in the generated result)
    assert.is(v?.checks.length, 10);
    assert.ok(v?.checks[0]?.name === "CNI result in the network's ranges" && v.checks[0].ok, "the result lies in the network's ranges");
    assert.equal(
      v?.checks.filter((x) => x.na).map((x) => x.name),
      ["resolv.conf has the result's DNS"],
    );

    // a second up is a no-op that succeeds
    await pipelineUp(ctx);

    await pipelineDown(ctx);
    assert.not.ok(await getLink(exec, config.bridge), 'bridge removed');
    assert.not.ok(existsSync(pin), 'netns pin removed');
    assert.not.ok(existsSync(path.join(config.confDir, `10-${config.network}.conflist`)), 'network config removed');
    assert.not.ok(existsSync(path.join(config.ipamDataDir, config.network)), 'lease folder removed');
    const results = path.join(config.cniCacheDir, 'results');
    assert.ok(!existsSync(results) || readdirSync(results).length === 0, 'CNI cache entry removed');
    assert.not.ok(existsSync(config.stateDir), 'state removed');
    const runc = await exec('runc', ['--root', config.runcRoot, 'list', '-q']);
    assert.is(runc.stdout.trim(), '', 'no runc container left');
    // a second down is a no-op that succeeds
    await pipelineDown(ctx);

    const after = await hostSnapshot(exec, config);
    assert.is(ownSnapshotDiff(before, after, config), '', 'host links, addresses, routes, iptables, sysctls, mounts and files unchanged');
  });
});

test.run();
