import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  attachmentsOf,
  bundleContainers,
  type CniAttachState,
  containerIds,
  createExec,
  getLink,
  isMountPoint,
  type RuncBundleState,
  type VerifyState,
} from '@cni-demo/core';
import { forceTeardown, hostSnapshot, ownSnapshotDiff, removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../../src/pipeline.js';

const exec = createExec();

function get(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', timeout: 3000, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

test('four containers on one bridge, httpd behind a host port; down removes mapping, chains, overlays, leases', async () => {
  const hostPort = 18400 + Math.floor(Math.random() * 100);
  const { root, config, ctx } = await testConfig({ containers: 4, portMap: `${hostPort}:80/tcp`, httpdContainer: 2, concurrency: 3 });
  const before = await hostSnapshot(exec, config);
  const ids = containerIds(config);
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', async () => {
      for (const id of ids) {
        const m = path.join(config.stateDir, config.id, 'containers', id, 'rootfs');
        while (isMountPoint(m)) await exec('umount', [m], { allowFail: true });
      }
      await forceTeardown(config, exec, ids);
    });

    await pipelineUp(ctx);
    const ports = await exec('ip', ['-j', 'link', 'show', 'master', config.bridge]);
    const veths = (JSON.parse(ports.stdout || '[]') as { ifname: string }[]).map((p) => p.ifname);
    assert.is(veths.length, 4, 'one veth per container on the bridge');

    const bundle = ctx.state.read<RuncBundleState>('runc-bundle');
    const att = ctx.state.read<CniAttachState>('cni-attach');
    assert.ok(bundle && att);
    const containers = bundleContainers(bundle as RuncBundleState);
    const atts = attachmentsOf(att as CniAttachState);
    assert.equal(
      containers.map((x) => x.containerId),
      ids,
    );
    assert.equal(
      atts.map((x) => x.containerId),
      ids,
    );
    // the single-container fields still describe the first container
    assert.is(bundle?.containerId, ids[0]);
    assert.is(att?.ipv4, atts[0]?.ipv4);

    const runc = await exec('runc', ['--root', config.runcRoot, 'list', '-q']);
    assert.equal(runc.stdout.trim().split('\n').sort(), [...ids].sort());
    const v4 = new Set<string>();
    for (const [i, a] of atts.entries()) {
      const pin = path.join(config.netnsDir, a.containerId);
      assert.ok(isMountPoint(pin), `${pin} pinned`);
      assert.ok(isMountPoint(containers[i]?.overlay?.mount ?? '/nonexistent'), `${a.containerId} rootfs is an overlay mount`);
      const inside = await exec('nsenter', [`--net=${pin}`, 'ip', '-j', 'addr', 'show', 'dev', 'eth0']);
      const locals = (JSON.parse(inside.stdout) as { addr_info: { local: string }[] }[])[0]?.addr_info.map((x) => x.local) ?? [];
      assert.ok(a.ipv4 && locals.includes(a.ipv4), `${a.containerId} eth0 has ${a.ipv4}`);
      assert.ok(a.ipv6 && locals.includes(a.ipv6), `${a.containerId} eth0 has ${a.ipv6}`);
      v4.add(a.ipv4 ?? '');
    }
    assert.is(v4.size, 4, 'four distinct IPv4 leases');
    const leases = readdirSync(path.join(config.ipamDataDir, config.network)).filter((f) => f !== 'lock' && !f.startsWith('last_reserved'));
    assert.is(leases.length, 8, 'one v4 and one v6 lease per container');

    // container to container, and host to the httpd container through the mapped host port
    await exec('runc', ['--root', config.runcRoot, 'exec', ids[3] ?? '', 'ping', '-c1', '-W2', atts[0]?.ipv4 ?? '']);
    await exec('runc', ['--root', config.runcRoot, 'exec', ids[0] ?? '', 'ping', '-6', '-c1', '-W2', atts[3]?.ipv6 ?? '']);
    const page = await get('127.0.0.1', hostPort);
    assert.is(page.status, 200);
    assert.is(page.body, 'hello from cni-demo\n');
    assert.equal(atts[1]?.portMappings, [{ hostPort, containerPort: 80, protocol: 'tcp' }]);
    const nat = (await exec('iptables-save', ['-t', 'nat'])).stdout;
    assert.match(nat, new RegExp(`-A CNI-DN-\\S+ .*--dport ${hostPort} -j DNAT --to-destination ${atts[1]?.ipv4}:80`));

    const v = ctx.state.read<VerifyState>('verify');
    assert.ok(v?.ok, 'verify passed');
    assert.is(v?.addresses?.length, 4);
    assert.ok(
      v?.checks.some((x) => x.name.includes(`127.0.0.1:${hostPort}`) && x.ok),
      'verify fetched through the host port',
    );

    await pipelineDown(ctx);
    for (const [i, id] of ids.entries()) {
      assert.not.ok(existsSync(path.join(config.netnsDir, id)), `${id} pin removed`);
      assert.not.ok(isMountPoint(containers[i]?.overlay?.mount ?? ''), `${id} overlay unmounted`);
    }
    assert.not.ok(await getLink(exec, config.bridge), 'bridge removed');
    assert.not.ok(existsSync(path.join(config.ipamDataDir, config.network)), 'leases removed');
    assert.not.ok(existsSync(config.stateDir), 'state removed');
    const after = (await exec('iptables-save', ['-t', 'nat'])).stdout;
    assert.not.match(after, new RegExp(`--dport ${hostPort} `), 'mapping removed');
    const gone = await get('127.0.0.1', hostPort).then(
      () => 'answered',
      () => 'refused',
    );
    assert.is(gone, 'refused', 'nothing answers on the host port after down');
    // other developers' tests change the host at the same time: compare only what this instance could touch
    assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'host as found');
  });
});

test('firewall plugin chained before portmap (--firewall on): traffic passes, down removes its chains', async () => {
  const hostPort = 18400 + Math.floor(Math.random() * 100);
  const { root, config, ctx } = await testConfig({ containers: 2, portMap: `${hostPort}:80/tcp`, firewall: 'on' });
  const before = await hostSnapshot(exec, config);
  const ids = containerIds(config);
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', async () => {
      for (const id of ids) {
        const m = path.join(config.stateDir, config.id, 'containers', id, 'rootfs');
        while (isMountPoint(m)) await exec('umount', [m], { allowFail: true });
      }
      await forceTeardown(config, exec, ids);
    });
    await pipelineUp(ctx);
    const conf = JSON.parse(readFileSync(path.join(config.confDir, `10-${config.network}.conflist`), 'utf8')) as {
      plugins: { type: string }[];
    };
    assert.equal(
      conf.plugins.map((p) => p.type),
      ['bridge', 'firewall', 'portmap'],
    );
    const att = attachmentsOf(ctx.state.read<CniAttachState>('cni-attach') as CniAttachState);
    const filter = (await exec('iptables-save', ['-t', 'filter'])).stdout;
    assert.match(filter, /^-A FORWARD .*-j CNI-FORWARD/m);
    for (const a of att) assert.ok(filter.includes(`-A CNI-FORWARD -s ${a.ipv4}/32 -j ACCEPT`), `firewall accepts ${a.ipv4}`);
    const page = await get('127.0.0.1', hostPort);
    assert.is(page.body, 'hello from cni-demo\n');
    assert.ok(ctx.state.read<VerifyState>('verify')?.ok, 'verify passed');

    await pipelineDown(ctx);
    const after = (await exec('iptables-save', ['-t', 'filter'])).stdout;
    for (const a of att) assert.not.ok(after.includes(`${a.ipv4}/32`), `no rule left for ${a.ipv4}`);
    // the shared chains and their jumps count unless another instance's rules still use them (the exact
    // removal, from a start with none, is e2e/private-host.test.ts's)
    assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'host as found');
  });
});

test('above the subnet capacity the CLI config is refused before anything is made', async () => {
  const { root, config } = await testConfig();
  removeRoot(root);
  const { resolveConfig, UserError } = await import('@cni-demo/core');
  try {
    resolveConfig({ env: {}, file: { ...config, containers: 300 } as unknown as Record<string, unknown> });
    assert.unreachable('accepted 300 containers in a /24');
  } catch (e) {
    assert.ok(e instanceof UserError);
    assert.is((e as InstanceType<typeof UserError>).field, 'containers');
  }
  assert.not.ok(await getLink(exec, config.bridge));
});

test.run();
