// RuntimeOptions.hostNetns with Debian's REAL plugins: the plugins run inside another network namespace (a
// node), so the bridge, the veth's host end, the masquerade rules and the forwarding sysctls are made there and
// not on the host. Root only; every namespace is the test's own.
import { getLink, readLeases, readSysctl } from '@cni-demo/core';
import { withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, CniRuntime, confFromBytes, type PluginRequest, type Result, type RuntimeConf } from '../src/index.js';
import { exec, PLUGIN_DIR, realEnv, requirePrereqs, rulesMentioning } from './real-env.js';

const inNs = (pin: string, ...argv: string[]) => exec('nsenter', [`--net=${pin}`, ...argv], { allowFail: true });

test('real: with hostNetns the bridge, the host end, ipMasq and forwarding are in that namespace; ips are honoured', async () => {
  requirePrereqs(['bridge', 'host-local']);
  await withCleanup(async (c) => {
    // the plugins run in the node: the host's forwarding is not theirs to hold (asserted untouched below)
    const env = await realEnv(c, { hostForwarding: false });
    const conf = env.config;
    const node = await env.newNetns();
    const netns = await env.newNetns();
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
            capabilities: { ips: true },
            ipam: {
              type: 'host-local',
              dataDir: conf.ipamDataDir,
              ranges: [[{ subnet: conf.subnet4, gateway: conf.gateway4 }], [{ subnet: conf.subnet6, gateway: conf.gateway6 }]],
            },
          },
        ],
      }),
      'node.conflist',
    );
    const want4 = conf.gateway4.replace(/\.1$/, '.7');
    const want6 = conf.gateway6.replace(/::1$/, '::7');
    const rt: RuntimeConf = {
      containerId: `${conf.id}-node`,
      netns,
      ifName: 'eth0',
      args: [['IgnoreUnknown', '1']],
      capabilityArgs: { ips: [`${want4}/24`, `${want6}/64`] },
    };
    env.ids.push(rt.containerId);
    const cni = new CniRuntime({ pluginDirs: [PLUGIN_DIR], cacheDir: conf.cniCacheDir, hostNetns: node });
    c.add('DEL', () => cni.delNetworkList(list, rt).catch(() => undefined));
    const sysctls = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'].map(readSysctl);

    const result = (await cni.addNetworkList(list, rt)) as Result;
    assert.equal(
      result.ips?.map((i) => i.address),
      [`${want4}/24`, `${want6}/64`],
      'host-local gave the addresses asked for through the ips capability',
    );
    assert.not.ok(await getLink(exec, conf.bridge), 'no bridge on the host');
    const nodeLinks = JSON.parse((await inNs(node, 'ip', '-j', '-d', 'link', 'show')).stdout) as {
      ifname: string;
      master?: string;
      linkinfo?: { info_kind?: string };
    }[];
    assert.ok(
      nodeLinks.some((l) => l.ifname === conf.bridge && l.linkinfo?.info_kind === 'bridge'),
      'the bridge is in the node',
    );
    assert.ok(
      nodeLinks.some((l) => l.master === conf.bridge && l.linkinfo?.info_kind === 'veth'),
      "the veth's host end is a port of it",
    );
    assert.match((await inNs(node, 'ip', '-4', 'addr', 'show', 'dev', conf.bridge)).stdout, new RegExp(`inet ${conf.gateway4}/`));
    assert.is((await inNs(node, 'sysctl', '-n', 'net.ipv4.ip_forward')).stdout.trim(), '1', 'forwarding on in the node');
    assert.equal(['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'].map(readSysctl), sysctls, "the host's sysctls untouched");
    const nodeNat = (await inNs(node, 'iptables-save', '-t', 'nat')).stdout;
    assert.match(nodeNat, new RegExp(`-A POSTROUTING -s ${want4.replace(/\./g, '\\.')}/32 .*-j CNI-`), "ipMasq's rule in the node");
    assert.equal(await rulesMentioning([`"${rt.containerId}"`, `${want4}/32`]), [], 'none on the host');
    // the node reaches the container over its own bridge
    assert.is((await inNs(node, 'ping', '-c1', '-W2', want4)).exitCode, 0, 'node pings the container');

    await cni.delNetworkList(list, rt);
    assert.is((await inNs(netns, 'ip', 'link', 'show', 'eth0')).exitCode, 1, 'eth0 gone');
    assert.equal(readLeases(conf.ipamDataDir, conf.network), [], 'leases released');
    assert.not.match((await inNs(node, 'iptables-save', '-t', 'nat')).stdout, /-j CNI-/, "the node's masquerade chain removed");
  });
});

test('hostNetns: every request carries it; a namespace that does not exist is refused before any plugin runs', async () => {
  const seen: PluginRequest[] = [];
  const recorder = (hostNetns: string) =>
    new CniRuntime({
      pluginDirs: [PLUGIN_DIR],
      cacheDir: '/nonexistent-cache',
      hostNetns,
      exec: async (req) => {
        seen.push(req);
        return { exitCode: 0, signal: null, stdout: '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}', stderr: '', timedOut: false };
      },
    });
  await recorder('/proc/self/ns/net').getVersionInfo('bridge');
  assert.is(seen[0]?.hostNetns, '/proc/self/ns/net');
  try {
    await recorder('/nonexistent/node-pin').getVersionInfo('bridge');
    assert.unreachable('a missing namespace was accepted');
  } catch (e) {
    assert.ok(e instanceof CniError, String(e));
    assert.is((e as CniError).code, 8);
    assert.match((e as CniError).msg, /\/nonexistent\/node-pin does not exist/);
  }
  assert.is(seen.length, 1, 'nothing ran for the missing namespace');
});

test.run();
