import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveConfig } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withCleanup } from '../src/cleanup.js';
import { PACKAGES_DIR, removeRoot, testConfig } from '../src/index.js';
import { observedSnapshot, privateNetns } from '../src/private-netns.js';
import { hostSnapshot, snapshotDiff, withoutEmptyTables } from '../src/snapshot.js';
import { ownSnapshotDiff, pluginNames } from '../src/snapshot-filter.js';

/**
 * hostSnapshot and ownSnapshotDiff against a real kernel: every kind of leftover is made for real and must be
 * reported. Host-wide kinds (shared chains, net.bridge.* sysctls) are made in a private network namespace with
 * its own mount namespace, so no other test on this host sees them and the test sees no other test's.
 */

const snapAt = observedSnapshot;
const lines = (s: string) => (s === '' ? [] : s.split('\n'));

test('withoutEmptyTables drops a table with only ACCEPT built-in chains, keeps one with a rule or another policy', () => {
  const save = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    'COMMIT',
    '*filter',
    ':FORWARD DROP [0:0]',
    'COMMIT',
    '*mangle',
    ':INPUT ACCEPT [0:0]',
    '-A INPUT -j ACCEPT',
    'COMMIT',
  ];
  assert.equal(withoutEmptyTables(save.join('\n')).split('\n'), save.slice(4));
});

test('one leftover of each kind, made for real in a private netns, is reported; a table another rule loads is not', async () => {
  // with port mappings, so the shared chains are the instance's to make
  const { root, config } = await testConfig({ portMap: '18080:80/tcp' });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    const ns = await privateNetns(c);
    const id = config.id;
    const mine = pluginNames(config.network, id);
    const rootfs = path.join(config.stateDir, id, 'rootfs');
    const lease = path.join(config.ipamDataDir, config.network, `${config.gateway4.replace(/1$/, '2')}`);
    const obs = await ns.run({
      watch: [],
      snapshot: config,
      steps: [
        {
          label: 'another’s rule loads nat',
          run: ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.254.0.0/16', '-j', 'MASQUERADE'],
        },
        { label: 'nat shared chain', run: ['iptables', '-t', 'nat', '-N', 'CNI-HOSTPORT-DNAT'] },
        {
          label: 'jump to it',
          run: ['iptables', '-t', 'nat', '-A', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT'],
        },
        { label: 'filter shared chain', run: ['iptables', '-N', 'CNI-FORWARD'] },
        { label: 'jump to CNI-FORWARD', run: ['iptables', '-A', 'FORWARD', '-j', 'CNI-FORWARD'] },
        { label: 'v6 admin chain', run: ['ip6tables', '-N', 'CNI-ADMIN'] },
        { label: 'empty masquerade chain', run: ['iptables', '-t', 'nat', '-N', mine.masqChain] },
        { label: 'empty DNAT chain', run: ['ip6tables', '-t', 'nat', '-N', mine.dnatChain] },
        { label: 'sysctl', set: { 'net.bridge.bridge-nf-call-iptables': '0' } },
        { label: 'mkdir rootfs', run: ['mkdir', '-p', rootfs] },
        { label: 'mount', run: ['mount', '-t', 'tmpfs', 'prsnap', rootfs] },
        { label: 'mkdir leases', run: ['mkdir', '-p', path.dirname(lease)] },
        { label: 'lease file', run: ['touch', lease] },
        { label: 'ifb', run: ['ip', 'link', 'add', mine.ifb, 'type', 'ifb'] },
      ],
    });
    const start = snapAt(obs, 'start');
    assert.ok(start.sysctls?.includes('net.bridge.bridge-nf-call-iptables=1'), `a new netns starts with 1: ${start.sysctls}`);
    assert.is(ownSnapshotDiff(start, snapAt(obs, 'another’s rule loads nat'), config), '', 'a table loaded by another’s rule');
    assert.match(
      snapshotDiff(start, snapAt(obs, 'another’s rule loads nat')),
      /iptables \+ nat :PREROUTING ACCEPT/,
      'the full diff sees it',
    );
    const expected = [
      'iptables + nat :CNI-HOSTPORT-DNAT -',
      'iptables + nat -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      'iptables + filter :CNI-FORWARD -',
      'iptables + filter -A FORWARD -j CNI-FORWARD',
      `iptables + nat :${mine.masqChain} -`,
      'ip6tables + filter :CNI-ADMIN -',
      `ip6tables + nat :${mine.dnatChain} -`,
      'sysctls - net.bridge.bridge-nf-call-iptables=1',
      'sysctls + net.bridge.bridge-nf-call-iptables=0',
      `mounts + ${rootfs}`,
      `files + ${config.stateDir}/`,
      `files + ${config.stateDir}/${id}/`,
      `files + ${rootfs}/`,
      `files + ${config.ipamDataDir}/`,
      `files + ${path.dirname(lease)}/`,
      `files + ${lease}`,
    ];
    const diff = lines(ownSnapshotDiff(start, snapAt(obs, 'ifb'), config));
    const ifbLine = diff.find((l) => l.startsWith(`links + ${mine.ifb}:`));
    assert.ok(ifbLine, `the ifb device is reported:\n${diff.join('\n')}`);
    assert.equal(diff.filter((l) => l !== ifbLine).sort(), expected.sort());
  });
});

/** cnitool's container id for a netns path: "cnitool-" + hex of the first 10 bytes of SHA-512 of the path. */
const cnitoolId = (netns: string) => `cnitool-${createHash('sha512').update(netns).digest('hex').slice(0, 20)}`;

test('the real plugins name their per-attachment objects as the filter derives them, and a DEL that never ran is reported whole', async () => {
  const { root, config: base } = await testConfig();
  const netnsFile = path.join(root, 'container-netns');
  // the instance runs a network file of its own (so the shared chains may be its doing)
  const file = path.join(base.confDir, `10-${base.network}.conflist`);
  const config = resolveConfig({ env: {}, file: { ...base, id: cnitoolId(netnsFile), netconf: file } }).config;
  const mine = pluginNames(config.network, config.id);
  const hostPort = 20000 + Math.floor(Math.random() * 9000);
  const conflist = {
    cniVersion: '1.0.0',
    name: config.network,
    plugins: [
      {
        type: 'bridge',
        bridge: config.bridge,
        isGateway: true,
        ipMasq: true,
        ipam: {
          type: 'host-local',
          dataDir: config.ipamDataDir,
          ranges: [[{ subnet: config.subnet4, gateway: config.gateway4 }], [{ subnet: config.subnet6, gateway: config.gateway6 }]],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall' },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  };
  mkdirSync(config.confDir, { recursive: true });
  writeFileSync(file, JSON.stringify(conflist));
  writeFileSync(netnsFile, '');
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    const ns = await privateNetns(c);
    const tool = [process.execPath, path.join(PACKAGES_DIR, 'cni', 'dist', 'scripts', 'cni-tool.mjs')];
    const env = {
      NETCONFPATH: config.confDir,
      CNI_PATH: '/usr/lib/cni',
      CNI_CACHE_DIR: config.cniCacheDir,
      CAP_ARGS: JSON.stringify({
        portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }],
        bandwidth: { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 8_000_000, egressBurst: 800_000 },
      }),
    };
    const obs = await ns.run({
      watch: [],
      snapshot: config,
      steps: [
        { label: 'container netns', run: ['unshare', `--net=${netnsFile}`, 'true'] },
        { label: 'add', run: [...tool, 'add', config.network, netnsFile], env },
        // the container's netns goes away before any DEL: what the plugins made outside it stays
        { label: 'lost', run: ['umount', netnsFile] },
      ],
    });
    const added = snapAt(obs, 'add');
    assert.match(added.iptables ?? '', new RegExp(`^nat :${mine.masqChain} -$`, 'm'), 'bridge named its masquerade chain so');
    assert.match(added.iptables ?? '', new RegExp(`^nat :${mine.dnatChain} -$`, 'm'), 'portmap named its DNAT chain so');
    assert.match(added.links ?? '', new RegExp(`^${mine.ifb}:`, 'm'), 'bandwidth named its ifb so');
    const diff = lines(ownSnapshotDiff(snapAt(obs, 'container netns'), snapAt(obs, 'lost'), config));
    const has = (re: RegExp, what: string) =>
      assert.ok(
        diff.some((l) => re.test(l)),
        `${what} reported:\n${diff.join('\n')}`,
      );
    has(/^iptables \+ nat :CNI-HOSTPORT-(DNAT|MASQ|SETMARK) -$/, 'portmap’s shared chains');
    has(/^iptables \+ nat -A (PREROUTING|OUTPUT) .*-j CNI-HOSTPORT-DNAT$/, 'the jumps to CNI-HOSTPORT-DNAT');
    has(/^iptables \+ filter :CNI-(FORWARD|ADMIN) -$/, 'firewall’s shared chains');
    has(/^iptables \+ filter -A FORWARD .*-j CNI-FORWARD$/, 'the jump to CNI-FORWARD');
    has(new RegExp(`^iptables \\+ nat :${mine.masqChain} -$`), 'the masquerade chain');
    has(new RegExp(`^iptables \\+ nat :${mine.dnatChain} -$`), 'the DNAT chain');
    has(new RegExp(`^links \\+ ${mine.ifb}:`), 'the ifb device');
    has(new RegExp(`^links \\+ ${config.bridge}:`), 'the bridge');
    has(
      new RegExp(`^files \\+ ${config.ipamDataDir}/${config.network}/${config.subnet4.split('.').slice(0, 3).join('\\.')}\\.\\d+$`),
      'the v4 lease',
    );
    has(new RegExp(`^files \\+ ${config.cniCacheDir}/results/${config.network}-${config.id}-eth0$`), 'the cache entry');
  });
});

test('hostSnapshot without a config has no files key; with one, a folder that does not exist lists nothing', async () => {
  const { root, config } = await testConfig();
  try {
    assert.is((await hostSnapshot(undefined)).files, undefined);
    assert.is((await hostSnapshot(undefined, config)).files, '');
    mkdirSync(config.confDir, { recursive: true });
    assert.is((await hostSnapshot(undefined, config)).files, `${config.confDir}/`);
  } finally {
    removeRoot(root);
  }
});

test.run();
