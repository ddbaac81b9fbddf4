// REAL plugins (Debian's /usr/lib/cni) chained in one list, inside netns this test creates. Root only.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { getLink } from '@cni-demo/core';
import { withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CniError, CniRuntime, confFromBytes, defaultPluginExec, type Result, type RuntimeConf } from '../src/index.js';
import { exec, PLUGIN_DIR, type RealEnv, realEnv, requirePrereqs, rulesMentioning, subnetNeedle4, subnetNeedle6 } from './real-env.js';

const CHAIN = ['bridge', 'host-local', 'portmap', 'tuning', 'firewall', 'bandwidth'];

function chainList(env: RealEnv) {
  const c = env.config;
  const text = JSON.stringify({
    name: c.network,
    cniVersion: '1.0.0',
    plugins: [
      {
        type: 'bridge',
        bridge: c.bridge,
        isGateway: true,
        ipMasq: true,
        ipam: {
          type: 'host-local',
          dataDir: c.ipamDataDir,
          ranges: [[{ subnet: c.subnet4, gateway: c.gateway4 }], [{ subnet: c.subnet6, gateway: c.gateway6 }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      { type: 'tuning', mtu: 1400 },
      { type: 'firewall', backend: 'iptables' },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  });
  return confFromBytes(text, `${c.network}.conflist`);
}

const leases = (env: RealEnv) => {
  const dir = path.join(env.config.ipamDataDir, env.config.network);
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('last_reserved_ip') && f !== 'lock') : [];
};
/** every file in the results directory, dot-files too */
const cacheEntries = async (cacheDir: string) => {
  const d = path.join(cacheDir, 'results');
  return existsSync(d) ? readdirSync(d) : [];
};
async function bridgePorts(bridge: string): Promise<string[]> {
  const r = await exec('ip', ['-j', 'link', 'show', 'master', bridge], { allowFail: true });
  return r.exitCode === 0 ? (JSON.parse(r.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname) : [];
}

test('real chain bridge+host-local+portmap+tuning+firewall+bandwidth: ADD, CHECK, DEL, nothing left', async () => {
  requirePrereqs(CHAIN);
  await withCleanup(async (c) => {
    const env = await realEnv(c);
    const cni = new CniRuntime({ pluginDirs: [PLUGIN_DIR], cacheDir: env.config.cniCacheDir, timeoutMs: 30_000 });
    const list = chainList(env);
    const netns = await env.newNetns();
    const hostPort = 20000 + Math.floor(Math.random() * 9000);
    const rt: RuntimeConf = {
      containerId: `${env.config.id}-chain`,
      netns,
      ifName: 'eth0',
      args: [['IgnoreUnknown', '1']],
      capabilityArgs: {
        portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }],
        bandwidth: { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 8_000_000, egressBurst: 800_000 },
      },
    };
    env.ids.push(rt.containerId);
    c.add('DEL through the library', () => cni.delNetworkList(list, rt).catch(() => undefined));

    // validate before anything runs: every plugin speaks the list's 1.0.0
    const reports = await cni.validateNetworkList(list);
    assert.equal(
      reports.map((r) => r.type),
      ['bridge', 'portmap', 'tuning', 'firewall', 'bandwidth'],
    );

    const result = (await cni.addNetworkList(list, rt)) as Result;
    assert.is(result.cniVersion, '1.0.0');
    const v4 = result.ips?.find((i) => !i.address.includes(':'))?.address.split('/')[0] ?? '';
    const v6 = result.ips?.find((i) => i.address.includes(':'))?.address.split('/')[0] ?? '';
    assert.ok(v4.startsWith(subnetNeedle4(env.config)), `v4 ${v4} in ${env.config.subnet4}`);
    assert.ok(v6.startsWith(subnetNeedle6(env.config)), `v6 ${v6} in ${env.config.subnet6}`);
    const names = result.interfaces?.map((i) => i.name) ?? [];
    assert.ok(names.includes(env.config.bridge) && names.includes('eth0'), `interfaces ${names}`);
    const ifb = names.find((n) => n.startsWith('bwp'));
    assert.ok(ifb, `bandwidth added its ifb to the result: ${names}`);
    assert.ok(await getLink(exec, ifb ?? ''), 'ifb device exists');

    // what the plugins did, seen on the host and in the netns
    const eth0 = JSON.parse((await exec('ip', ['-n', path.basename(netns), '-j', 'addr', 'show', 'dev', 'eth0'])).stdout) as {
      mtu: number;
      addr_info: { local: string }[];
    }[];
    assert.is(eth0[0]?.mtu, 1400, 'tuning set the MTU');
    assert.ok(
      eth0[0]?.addr_info.some((a) => a.local === v4),
      'eth0 has the IPv4 address',
    );
    await exec('ping', ['-4', '-c1', '-W2', v4]);
    const rules = await rulesMentioning([`"${rt.containerId}"`, `\\"${rt.containerId}\\"`, `${v4}/32`, `${v4}:`]);
    assert.ok(
      rules.some((l) => l.includes(`--dport ${hostPort}`)),
      'portmap DNAT rule for the host port',
    );
    assert.ok(
      rules.some((l) => l.includes('MASQUERADE') || /-j CNI-[0-9a-f]+/.test(l)),
      'bridge ipMasq chain',
    );
    assert.ok(
      rules.some((l) => l.startsWith('-A CNI-FORWARD') || l.includes(`-d ${v4}/32`)),
      'firewall rule for the container',
    );
    assert.equal(leases(env).sort(), [v4, v6].sort(), 'one lease per family');
    assert.equal(await cacheEntries(env.config.cniCacheDir), [`${list.name}-${rt.containerId}-eth0`]);

    // Debian portmap 1.1.1 CHECK looks for its IPv4 rules in ip6tables (containernetworking/plugins#819):
    // that exact failure is accepted from portmap only; every other plugin must pass CHECK
    try {
      await cni.checkNetworkList(list, rt);
    } catch (e) {
      assert.is((e as CniError).plugin, 'portmap', String(e));
      assert.match((e as CniError).msg, /could not check ipv6 dnat/);
    }
    const withoutPortmap = confFromBytes(
      JSON.stringify({ ...JSON.parse(Buffer.from(list.bytes).toString()), plugins: list.plugins.filter((p) => p.type !== 'portmap') }),
      'no-portmap',
    );
    await cni.checkNetworkList(withoutPortmap, rt);
    const calls: string[] = [];
    const spy = new CniRuntime({
      pluginDirs: [PLUGIN_DIR],
      cacheDir: env.config.cniCacheDir,
      exec: (req) => {
        calls.push(path.basename(req.pluginPath));
        return defaultPluginExec(req);
      },
    });
    await spy.checkNetworkList(withoutPortmap, rt);
    assert.equal(calls, ['bridge', 'tuning', 'firewall', 'bandwidth'], 'CHECK ran every plugin in order');

    await cni.delNetworkList(list, rt);
    assert.is(
      await exec('ip', ['-n', path.basename(netns), 'link', 'show', 'eth0'], { allowFail: true }).then((r) => r.exitCode),
      1,
      'eth0 gone',
    );
    assert.equal(leases(env), [], 'leases released');
    assert.equal(await bridgePorts(env.config.bridge), [], 'no veth left on the bridge');
    assert.not.ok(await getLink(exec, ifb ?? ''), 'ifb removed');
    assert.equal(
      await rulesMentioning([`"${rt.containerId}"`, `\\"${rt.containerId}\\"`, `${v4}/32`, `${v4}:`, `${v6}/128`]),
      [],
      'no iptables rule left',
    );
    assert.equal(await cacheEntries(env.config.cniCacheDir), [], 'cache entry removed');
    // DEL again, and with the netns gone, still succeeds
    await cni.delNetworkList(list, rt);
    await exec('ip', ['netns', 'del', path.basename(netns)]);
    await cni.delNetworkList(list, { ...rt, netns: '' });
  });
});

test("real: CHECK catches an address removed behind the runtime's back", async () => {
  requirePrereqs(['bridge', 'host-local']);
  await withCleanup(async (c) => {
    const env = await realEnv(c);
    const cni = new CniRuntime({ pluginDirs: [PLUGIN_DIR], cacheDir: env.config.cniCacheDir });
    const conf = env.config;
    const list = confFromBytes(
      JSON.stringify({
        name: conf.network,
        cniVersion: '1.0.0',
        plugins: [
          {
            type: 'bridge',
            bridge: conf.bridge,
            isGateway: true,
            ipam: { type: 'host-local', dataDir: conf.ipamDataDir, ranges: [[{ subnet: conf.subnet4 }]] },
          },
        ],
      }),
      'check.conflist',
    );
    const netns = await env.newNetns();
    const rt: RuntimeConf = { containerId: `${conf.id}-chk`, netns, ifName: 'eth0', args: [['IgnoreUnknown', '1']] };
    env.ids.push(rt.containerId);
    c.add('DEL', () => cni.delNetworkList(list, rt).catch(() => undefined));
    const result = (await cni.addNetworkList(list, rt)) as Result;
    await cni.checkNetworkList(list, rt);
    const addr = result.ips?.[0]?.address ?? '';
    await exec('ip', ['-n', path.basename(netns), 'addr', 'del', addr, 'dev', 'eth0']);
    try {
      await cni.checkNetworkList(list, rt);
      assert.unreachable('CHECK should fail');
    } catch (e) {
      assert.match((e as Error).message, /plugin type="bridge" failed \(check\)/);
    }
    await cni.delNetworkList(list, rt);
    assert.equal(leases(env), []);
  });
});

test('real: 50 concurrent ADDs get 50 distinct addresses; concurrent DELs leave nothing', async () => {
  requirePrereqs(['bridge', 'host-local']);
  await withCleanup(async (c) => {
    const env = await realEnv(c);
    const conf = env.config;
    const cni = new CniRuntime({ pluginDirs: [PLUGIN_DIR], cacheDir: conf.cniCacheDir, timeoutMs: 60_000 });
    const list = confFromBytes(
      JSON.stringify({
        name: conf.network,
        cniVersion: '1.0.0',
        plugins: [
          {
            type: 'bridge',
            bridge: conf.bridge,
            isGateway: true,
            ipMasq: true,
            ipam: { type: 'host-local', dataDir: conf.ipamDataDir, ranges: [[{ subnet: conf.subnet4, gateway: conf.gateway4 }]] },
          },
        ],
      }),
      'fifty.conflist',
    );
    const rts: RuntimeConf[] = [];
    for (let i = 0; i < 50; i++) {
      const rt = {
        containerId: `${conf.id}-p${i}`,
        netns: await env.newNetns(),
        ifName: 'eth0',
        args: [['IgnoreUnknown', '1']] as [string, string][],
      };
      env.ids.push(rt.containerId);
      rts.push(rt);
    }
    c.add('DEL all', async () => {
      await Promise.all(rts.map((rt) => cni.delNetworkList(list, rt).catch(() => undefined)));
    });
    const results = (await Promise.all(rts.map((rt) => cni.addNetworkList(list, rt)))) as Result[];
    const addrs = results.map((r) => r.ips?.[0]?.address ?? '');
    assert.is(new Set(addrs).size, 50, `distinct addresses: ${addrs.join(' ')}`);
    assert.ok(addrs.every((a) => a.startsWith(subnetNeedle4(conf))));
    assert.is(leases(env).length, 50);
    assert.is((await cacheEntries(conf.cniCacheDir)).length, 50);
    assert.is((await bridgePorts(conf.bridge)).length, 50);
    assert.is(cni.getCachedAttachments().filter((e) => e.networkName === conf.network).length, 50);

    await Promise.all(rts.map((rt) => cni.delNetworkList(list, rt)));
    assert.equal(leases(env), []);
    assert.equal(await cacheEntries(conf.cniCacheDir), []);
    assert.equal(await bridgePorts(conf.bridge), []);
    const ids = env.ids.flatMap((id) => [`"${id}"`, `\\"${id}\\"`]);
    assert.equal(await rulesMentioning(ids), [], 'no masquerade chain left');
  });
});

test.run();
