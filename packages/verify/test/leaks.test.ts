import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Config, createExec, names, resolveConfig } from '@cni-demo/core';
import {
  forceTeardown,
  PACKAGES_DIR,
  pluginNames,
  privateNetns,
  removeRoot,
  runScript,
  type TestEnv,
  testConfig,
  withCleanup,
  writeConfigFile,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { auditLeaks, type Leak } from '../src/leaks.js';

/**
 * The leak audit finds what it says it finds: each kind of leftover is planted for real on an instance that never
 * ran (a marked bridge, a veth on it, a netns pin, a runc folder, a host-local lease, a CNI cache entry, a
 * masquerade chain, a FORWARD rule, a mount, a state file, a network config the state says was written, a
 * --master-veth link, a host record entry) and must be listed, with nothing else; `verify leaks` must exit 1 and
 * print it. The mark, the comments and the file layouts are written out as the plugins and the demo make them.
 */
const exec = createExec();

interface Plant {
  kind: string;
  /** makes the leftover; `c` is the instance's config */
  plant: (c: Config, root: string) => Promise<unknown> | unknown;
  /** the audit's rows, in its order */
  want: (c: Config, root: string) => Leak[];
  /** undoes what forceTeardown and removing the temp root do not */
  undo?: (c: Config) => Promise<unknown>;
  overrides?: (root: string, base: Config) => Record<string, unknown>;
}

const ip = (args: string[]) => exec('ip', args);
const markedBridge = async (c: Config) => {
  await ip(['link', 'add', c.bridge, 'type', 'bridge']);
  await ip(['link', 'set', c.bridge, 'alias', `cni-demo:${c.id}`]);
};
const v4host = (c: Config, n: number) => c.subnet4.replace(/\.0\/24$/, `.${n}`);
const runDir = (c: Config) => path.join(c.stateDir, c.id);
/** The bundle folder runc-bundle makes for the container before runc create and the pin: its record of both. */
const bundleRecord = (c: Config) => mkdirSync(path.join(runDir(c), 'bundle'), { recursive: true });
/** the bridge plugin's masquerade chain for (network, id), as the plugin names it (testkit's pluginNames) */
const masqChain = (c: Config) => pluginNames(c.network, c.id).masqChain;

const PLANTS: Plant[] = [
  {
    kind: 'bridge',
    plant: markedBridge,
    want: (c) => [{ kind: 'bridge', what: `bridge ${c.bridge} (made by this instance)` }],
  },
  {
    kind: 'veth',
    plant: async (c) => {
      await markedBridge(c);
      await ip(['link', 'add', `${c.bridge}v`, 'type', 'veth', 'peer', 'name', `${c.bridge}w`]);
      await ip(['link', 'set', `${c.bridge}v`, 'master', c.bridge]);
    },
    want: (c) => [
      { kind: 'bridge', what: `bridge ${c.bridge} (made by this instance)` },
      { kind: 'veth', what: `${c.bridge}v on bridge ${c.bridge}` },
    ],
    undo: (c) => exec('ip', ['link', 'del', `${c.bridge}v`], { allowFail: true }),
  },
  {
    // as a kill between the pin and the state leaves it: the bundle folder (runc-bundle makes it first) is the
    // instance's record that the container id, and so the pin, is its own
    kind: 'netns-pin',
    plant: async (c) => {
      bundleRecord(c);
      mkdirSync(c.netnsDir, { recursive: true });
      writeFileSync(path.join(c.netnsDir, c.id), '');
      await exec('unshare', [`--net=${path.join(c.netnsDir, c.id)}`, 'true']);
    },
    want: (c) => [
      { kind: 'netns-pin', what: `${path.join(c.netnsDir, c.id)} (mounted 1x)` },
      { kind: 'state', what: path.join(runDir(c), 'bundle') },
    ],
  },
  {
    kind: 'runc-container',
    plant: (c) => {
      bundleRecord(c);
      mkdirSync(path.join(c.runcRoot, c.id), { recursive: true });
    },
    want: (c) => [
      { kind: 'runc-container', what: `runc state folder ${path.join(c.runcRoot, c.id)} (runc cannot read it)` },
      { kind: 'state', what: path.join(runDir(c), 'bundle') },
    ],
  },
  {
    // the same names with no record of this instance: someone else's (issue 14), not this instance's leak
    kind: "netns pin and runc folder of the instance's names that it has no record of (listed as nothing)",
    plant: async (c) => {
      mkdirSync(c.netnsDir, { recursive: true });
      writeFileSync(path.join(c.netnsDir, c.id), '');
      await exec('unshare', [`--net=${path.join(c.netnsDir, c.id)}`, 'true']);
      mkdirSync(path.join(c.runcRoot, c.id), { recursive: true });
    },
    want: () => [],
    undo: async (c) => {
      await exec('umount', [path.join(c.netnsDir, c.id)], { allowFail: true });
    },
  },
  {
    kind: 'lease',
    // host-local's store: <dataDir>/<network>/<ip>, holding "<container id>\r\n<ifname>"
    plant: (c) => {
      mkdirSync(path.join(c.ipamDataDir, c.network), { recursive: true });
      writeFileSync(path.join(c.ipamDataDir, c.network, v4host(c, 2)), `${c.id}\r\neth0`);
      writeFileSync(path.join(c.ipamDataDir, c.network, 'last_reserved_ip.0'), v4host(c, 2));
    },
    want: (c) => [{ kind: 'lease', what: `host-local lease ${v4host(c, 2)} for ${c.id} in ${path.join(c.ipamDataDir, c.network)}` }],
  },
  {
    kind: 'cni-cache',
    // libcni's result cache: <cacheDir>/results/<network>-<container id>-<ifname>, here half-written
    plant: (c) => {
      mkdirSync(path.join(c.cniCacheDir, 'results'), { recursive: true });
      writeFileSync(path.join(c.cniCacheDir, 'results', `${c.network}-${c.id}-eth0`), '{"kind": "cniCacheV1", "containerId"');
    },
    want: (c) => [{ kind: 'cni-cache', what: path.join(c.cniCacheDir, 'results', `${c.network}-${c.id}-eth0`) }],
  },
  {
    kind: 'nat-chain',
    // as the bridge plugin's ipMasq leaves it when DEL finds no netns: found by its comment, whatever its name
    plant: async (c) => {
      const comment = `name: "${c.network}" id: "${c.id}"`;
      await exec('iptables', ['-w', '-t', 'nat', '-N', masqChain(c)]);
      await exec('iptables', [
        '-w',
        '-t',
        'nat',
        '-A',
        masqChain(c),
        '-d',
        c.subnet4,
        '-m',
        'comment',
        '--comment',
        comment,
        '-j',
        'ACCEPT',
      ]);
      await exec('iptables', [
        '-w',
        '-t',
        'nat',
        '-A',
        'POSTROUTING',
        '-s',
        `${v4host(c, 2)}/32`,
        '-m',
        'comment',
        '--comment',
        comment,
        '-j',
        masqChain(c),
      ]);
    },
    want: (c) => [{ kind: 'nat-chain', what: `iptables -t nat ${masqChain(c)} (masquerade for ${c.network})` }],
    undo: async (c) => {
      const comment = `name: "${c.network}" id: "${c.id}"`;
      await exec(
        'iptables',
        ['-w', '-t', 'nat', '-D', 'POSTROUTING', '-s', `${v4host(c, 2)}/32`, '-m', 'comment', '--comment', comment, '-j', masqChain(c)],
        {
          allowFail: true,
        },
      );
      await exec('iptables', ['-w', '-t', 'nat', '-F', masqChain(c)], { allowFail: true });
      await exec('iptables', ['-w', '-t', 'nat', '-X', masqChain(c)], { allowFail: true });
    },
  },
  {
    kind: 'forward-rule',
    // the --fix-forward rules: in and out of the bridge, marked with the instance and the bridge
    plant: (c) => exec('iptables', ['-w', '-A', 'FORWARD', ...forwardRule(c, '-o')]),
    want: (c) => [{ kind: 'forward-rule', what: `iptables FORWARD -o ${c.bridge} ACCEPT` }],
    undo: (c) => exec('iptables', ['-w', '-D', 'FORWARD', ...forwardRule(c, '-o')], { allowFail: true }),
  },
  {
    kind: 'mount',
    plant: async (c) => {
      mkdirSync(path.join(runDir(c), 'rootfs'), { recursive: true });
      await exec('mount', ['-t', 'tmpfs', 'prleak', path.join(runDir(c), 'rootfs')]);
    },
    want: (c) => [
      { kind: 'mount', what: path.join(runDir(c), 'rootfs') },
      { kind: 'state', what: path.join(runDir(c), 'rootfs') },
    ],
  },
  {
    kind: 'state',
    plant: (c) => {
      mkdirSync(runDir(c), { recursive: true });
      writeFileSync(path.join(runDir(c), 'runc-bundle.json'), '{"containerId": ');
    },
    want: (c) => [{ kind: 'state', what: path.join(runDir(c), 'runc-bundle.json') }],
  },
  {
    kind: 'netconf',
    // host-setup's state says it wrote the network config, and the file is still there
    plant: (c) => {
      mkdirSync(runDir(c), { recursive: true });
      mkdirSync(c.confDir, { recursive: true });
      const confFile = path.join(c.confDir, `10-${c.network}.conflist`);
      writeFileSync(confFile, '{}\n');
      writeFileSync(
        path.join(runDir(c), 'host-setup.json'),
        JSON.stringify({ bridge: c.bridge, createdBridge: true, wroteConf: true, confFile, createdDirs: [], sysctls: {}, tools: {} }),
      );
    },
    want: (c) => [
      { kind: 'state', what: path.join(runDir(c), 'host-setup.json') },
      { kind: 'netconf', what: path.join(c.confDir, `10-${c.network}.conflist`) },
    ],
  },
  {
    kind: 'link',
    // with --netconf naming a macvlan master and --master-veth, the demo makes that master as a veth pair and marks it
    overrides: (root, base) => {
      const file = path.join(root, 'mv.conflist');
      const master = `${base.bridge}m`;
      writeFileSync(
        file,
        JSON.stringify({
          cniVersion: '1.0.0',
          name: base.network,
          plugins: [{ type: 'macvlan', master, ipam: { type: 'host-local', subnet: base.subnet4 } }],
        }),
      );
      return { netconf: file, masterVeth: true };
    },
    plant: async (c) => {
      await ip(['link', 'add', `${c.bridge}m`, 'type', 'veth', 'peer', 'name', `${c.bridge}m-gw`]);
      await ip(['link', 'set', `${c.bridge}m`, 'alias', `cni-demo:${c.id}`]);
    },
    want: (c) => [{ kind: 'link', what: `${c.bridge}m (the --master-veth pair this instance made)` }],
    undo: (c) => exec('ip', ['link', 'del', `${c.bridge}m`], { allowFail: true }),
  },
];

function forwardRule(c: Config, dir: '-i' | '-o'): string[] {
  return [dir, c.bridge, '-m', 'comment', '--comment', `cni-demo id=${c.id} bridge=${c.bridge}`, '-j', 'ACCEPT'];
}

async function instance(p: Plant): Promise<TestEnv> {
  const t = await testConfig();
  if (!p.overrides) return t;
  const { config } = resolveConfig({ env: {}, file: { ...t.config, ...p.overrides(t.root, t.config) } });
  return { ...t, config, ctx: { ...t.ctx, config, names: names(config) } };
}

for (const p of PLANTS) {
  test(`the leak audit lists a planted ${p.kind}, and nothing else`, async () => {
    const { root, config, ctx } = await instance(p);
    await withCleanup(async (c) => {
      c.add('remove temp root', () => removeRoot(root));
      c.add('force teardown', () => forceTeardown(config, exec));
      if (p.undo)
        c.add(`undo the planted ${p.kind}`, async () => {
          await p.undo?.(config);
        });
      assert.equal(await auditLeaks(ctx), [], 'nothing before the plant');
      await p.plant(config, root);
      assert.equal(await auditLeaks(ctx), p.want(config, root));
    });
  });
}

test('verify leaks: exit 1 and every leftover printed (text, and one JSON document with --json); exit 0 when clean', async () => {
  const { root, config } = await testConfig();
  const file = writeConfigFile(root, config);
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    const clean = await runScript('verify', 'leaks', ['--config', file]);
    assert.is(clean.code, 0, clean.stderr);
    await markedBridge(config);
    bundleRecord(config);
    mkdirSync(path.join(config.runcRoot, config.id), { recursive: true });
    const text = await runScript('verify', 'leaks', ['--config', file]);
    assert.is(text.code, 1);
    assert.match(text.stderr, `3 object(s) left behind:\n  bridge          bridge ${config.bridge} (made by this instance)\n`);
    assert.match(text.stderr, `  runc-container  runc state folder ${path.join(config.runcRoot, config.id)} (runc cannot read it)\n`);
    assert.match(text.stderr, `  state           ${path.join(runDir(config), 'bundle')}`);
    const json = await runScript('verify', 'leaks', ['--config', file, '--json']);
    assert.is(json.code, 1);
    assert.equal(JSON.parse(json.stdout), {
      ok: false,
      leaks: [
        { kind: 'bridge', what: `bridge ${config.bridge} (made by this instance)` },
        { kind: 'runc-container', what: `runc state folder ${path.join(config.runcRoot, config.id)} (runc cannot read it)` },
        { kind: 'state', what: path.join(runDir(config), 'bundle') },
      ],
    });
  });
});

test('the leak audit lists a host record entry left behind (in a private netns: the record is per network namespace)', async () => {
  const { root, config } = await testConfig();
  const file = writeConfigFile(root, config);
  // the entry as host-setup up leaves it, written by the record's own writer
  const plant = path.join(root, 'plant.mjs');
  writeFileSync(
    plant,
    `import { joinHostRecord } from ${JSON.stringify(path.join(PACKAGES_DIR, 'core', 'dist', 'src', 'index.js'))};
await joinHostRecord(${JSON.stringify(runDir(config))}, { id: ${JSON.stringify(config.id)}, bridge: ${JSON.stringify(config.bridge)}, network: ${JSON.stringify(config.network)}, createdBridge: true, createdDirs: [] });`,
  );
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    const ns = await privateNetns(c);
    const leaks = [process.execPath, path.join(PACKAGES_DIR, 'verify', 'dist', 'scripts', 'leaks.mjs'), '--config', file];
    const obs = await ns.run({
      watch: [],
      steps: [
        { label: 'clean', run: leaks },
        { label: 'plant', run: [process.execPath, plant] },
        { label: 'audit', run: leaks },
      ],
    });
    const at = (l: string) => obs.find((o) => o.label === l);
    assert.is(at('clean')?.code, 0, at('clean')?.stderr);
    assert.is(at('plant')?.code, 0, at('plant')?.stderr);
    assert.is(at('audit')?.code, 1);
    assert.match(
      at('audit')?.stderr ?? '',
      `host-record  entry ${runDir(config)} in /var/lib/cni-demo/netns-${/\d+/.exec(ns.netns)?.[0]}.json`,
    );
  });
});

test.run();
