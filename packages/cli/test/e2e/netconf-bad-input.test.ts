import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { type Config, createContext, createExec, createLogger } from '@cni-demo/core';
import * as hostSetup from '@cni-demo/host-setup';
import {
  forceTeardown,
  hostSnapshot,
  ownSnapshotDiff,
  removeRoot,
  runScript,
  tag,
  testConfig,
  testPrefix,
  writeConfigFile,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostLocal, walkthroughConf, writeMarkerPlugin, writeNetconf } from './netconf-env.js';

/**
 * Bad --netconf input, each through the one command a user runs (`cni-demo up`, its own process): one clear
 * message naming the problem, a non-zero exit, nothing of the run left (no state, no folder, no bridge, no
 * lease, no cache entry) and the host's links, addresses, routes, iptables rules and sysctls as they were.
 */
const exec = createExec();

interface Env {
  root: string;
  config: Config;
}

interface Case {
  name: string;
  /** writes the network file (or not) and returns its path; may change the config */
  netconf: (e: Env) => string;
  config?: (e: Env) => Partial<Config>;
  /** makes the situation; returns how to undo it. Runs before the "before" snapshot. */
  setup?: (e: Env) => Promise<(() => Promise<void>) | undefined>;
  /** every one of these must be in the message (case-insensitive) */
  expect: (e: Env) => string[];
  /** links the case may leave on failure, for the cleanup */
  links?: (e: Env) => string[];
}

const single = (e: Env, extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.0.0',
  name: e.config.network,
  type: 'bridge',
  bridge: e.config.bridge,
  isGateway: true,
  ipam: hostLocal(e.config, path.join(e.root, 'leases')),
  ...extra,
});

const masterName = `${testPrefix('ctb')}x${tag(2)}`;

const CASES: Case[] = [
  {
    name: 'a file that does not exist',
    netconf: (e) => path.join(e.root, 'nowhere', 'missing.conflist'),
    expect: (e) => ['netconf', path.join(e.root, 'nowhere', 'missing.conflist'), 'does not exist'],
  },
  {
    name: 'a file that is not JSON',
    netconf: (e) => writeNetconf(e.root, 'broken.conflist', '{"cniVersion": "1.0.0", "name": '),
    expect: () => ['netconf', 'broken.conflist', 'not valid JSON'],
  },
  {
    name: 'a .conf with neither type nor plugins',
    netconf: (e) => writeNetconf(e.root, 'empty.conf', { cniVersion: '1.0.0', name: e.config.network }),
    expect: () => ['netconf', 'empty.conf', "missing 'type'", '"plugins"'],
  },
  {
    name: 'a .conflist with neither plugins nor type',
    netconf: (e) => writeNetconf(e.root, 'empty.conflist', { cniVersion: '1.0.0', name: e.config.network }),
    expect: () => ['netconf', 'empty.conflist', '"plugins"'],
  },
  {
    name: 'a plugin type found in none of the plugin dirs (the dirs are listed)',
    netconf: (e) =>
      writeNetconf(e.root, 'unknown.conflist', { cniVersion: '1.0.0', name: e.config.network, plugins: [{ type: 'no-such-plugin' }] }),
    config: (e) => ({ pluginDirs: [path.join(e.root, 'my-plugins'), '/usr/lib/cni'] }),
    setup: async (e) => {
      mkdirSync(path.join(e.root, 'my-plugins'));
      return undefined;
    },
    expect: (e) => ['plugin "no-such-plugin" not found', path.join(e.root, 'my-plugins'), '/usr/lib/cni', '--plugin-dirs'],
  },
  {
    name: 'a delegated IPAM type found in none of the plugin dirs',
    netconf: (e) => writeNetconf(e.root, 'ipam.conf', single(e, { ipam: { type: 'no-such-ipam' } })),
    expect: () => ['plugin "no-such-ipam" not found', '/usr/lib/cni'],
  },
  {
    name: 'a cniVersion no plugin supports',
    netconf: (e) => writeNetconf(e.root, 'v110.conf', single(e, { cniVersion: '1.1.0' })),
    expect: () => ['cniVersion 1.1.0', 'plugin "bridge"', '1.0.0'],
  },
  {
    name: 'a cniVersion newer than any there is',
    netconf: (e) => writeNetconf(e.root, 'v9.conf', single(e, { cniVersion: '9.9.9' })),
    expect: () => ['netconf', 'cniVersion', 'no version this runtime supports'],
  },
  {
    name: 'a network name another running instance holds with different content',
    netconf: (e) => writeNetconf(e.root, '10-connet.conf', walkthroughConf(e.config, path.join(e.root, 'ipam-state'))),
    setup: async (e) => {
      // another instance, same state folder, same network name, the generated config (other bridge and subnets)
      const other = await testConfig({ network: e.config.network, stateDir: e.config.stateDir });
      const ctx = createContext(other.config, { log: createLogger({ quiet: true }) });
      await hostSetup.up(ctx);
      return async () => {
        await hostSetup.down(ctx).catch(() => undefined);
        await forceTeardown(other.config, exec);
        removeRoot(other.root);
      };
    },
    expect: (e) => [`network "${e.config.network}" is already run by instance`, 'another "name"'],
  },
  {
    name: 'a plugin that fails ADD after wiring the container (its error code and text; all of it undone)',
    netconf: (e) => {
      writeMarkerPlugin(path.join(e.root, 'my-plugins'));
      return writeNetconf(e.root, 'failing.conflist', {
        cniVersion: '1.0.0',
        name: e.config.network,
        plugins: [
          {
            type: 'fake-marker',
            marker: 'x.test',
            failAdd: { code: 117, msg: 'fake-marker refuses this container' },
            // IPv4 only: the bridge is the plugin's to make, in the failed ADD itself
            delegate: {
              type: 'bridge',
              bridge: e.config.bridge,
              isGateway: true,
              ipMasq: true,
              ipam: { type: 'host-local', ranges: [[{ subnet: e.config.subnet4 }]], dataDir: path.join(e.root, 'leases') },
            },
          },
        ],
      });
    },
    config: (e) => ({ pluginDirs: [path.join(e.root, 'my-plugins'), '/usr/lib/cni'] }),
    expect: () => [
      'plugin type="fake-marker" failed (add)',
      'fake-marker refuses this container',
      'CNI error code 117',
      'failing ADD on purpose',
    ],
  },
  {
    name: 'ipvlan, whose link type this kernel lacks',
    netconf: (e) => writeNetconf(e.root, 'ipvlan.conf', single(e, { type: 'ipvlan', master: masterName, mode: 'l2', bridge: undefined })),
    config: () => ({ masterVeth: true }),
    expect: () => ['"ipvlan" link type', 'ipvlan plugin', 'modprobe ipvlan'],
    links: () => [masterName],
  },
  {
    name: 'vlan, whose link type this kernel lacks',
    netconf: (e) => writeNetconf(e.root, 'vlan.conf', single(e, { type: 'vlan', master: masterName, vlanId: 42, bridge: undefined })),
    config: () => ({ masterVeth: true }),
    expect: () => ['"vlan" link type', 'vlan plugin', 'modprobe vlan'],
    links: () => [masterName],
  },
  {
    name: 'a macvlan master that does not exist',
    netconf: (e) => writeNetconf(e.root, 'macvlan.conf', single(e, { type: 'macvlan', master: masterName, bridge: undefined })),
    expect: () => [`master "${masterName}" does not exist`, '--master-veth'],
  },
  {
    name: 'a bridge name Linux cannot take',
    netconf: (e) => writeNetconf(e.root, 'badname.conf', single(e, { bridge: 'br/../../x' })),
    expect: () => ['netconf', '"plugins[0].bridge"', '"/"'],
  },
  {
    // with --fix-forward, "-i br+" would ACCEPT forwarded traffic of every br* bridge ahead of Docker's rules
    name: 'a bridge name with "+" (an iptables wildcard), with --fix-forward',
    netconf: (e) => writeNetconf(e.root, 'plus.conf', single(e, { bridge: 'br+' })),
    config: () => ({ fixForward: true }),
    expect: () => ['netconf', '"plugins[0].bridge"', '"br+"', 'iptables wildcard'],
  },
  {
    name: 'a bridge name with "#" and a quote (what ip -batch reads as a comment and a quoted word)',
    netconf: (e) => writeNetconf(e.root, 'hash.conf', single(e, { bridge: 'b"r#0' })),
    expect: () => ['netconf', '"plugins[0].bridge"', 'ip -batch'],
  },
  {
    name: 'a network name of 266 characters (its derived paths would be too long)',
    netconf: (e) => writeNetconf(e.root, 'long.conf', single(e, { name: 'n'.repeat(266) })),
    expect: () => ['netconf', 'long.conf', '"name"', 'at most 64'],
  },
  {
    name: '--port-map with a network that has no plugin to take the mappings',
    netconf: (e) => writeNetconf(e.root, 'noportmap.conf', single(e)),
    config: () => ({ portMap: '18080:80/tcp' }),
    expect: () => ['portMap', 'no plugin', 'portMappings'],
  },
  {
    name: '--master-veth without --netconf',
    netconf: () => '',
    config: () => ({ masterVeth: true }),
    expect: () => ['masterVeth', 'only applies with --netconf'],
  },
];

for (const c of CASES) {
  test(`bad netconf: ${c.name}`, async () => {
    const { root, config: base } = await testConfig();
    const e: Env = { root, config: base };
    let undo: (() => Promise<void>) | undefined;
    try {
      const netconf = c.netconf(e);
      const config: Config = { ...base, netconf, ...c.config?.(e) };
      e.config = config;
      undo = (await c.setup?.(e)) ?? undefined;
      const file = writeConfigFile(root, config);
      const before = await hostSnapshot(exec);
      const r = await runScript('cli', 'cni-demo', ['up', '--config', file]);
      const msg = r.stderr + r.stdout;
      assert.is(r.signal, null, `not killed: ${msg}`);
      assert.ok(r.code !== 0 && r.code !== null, `non-zero exit: ${msg}`);
      for (const want of c.expect(e)) assert.ok(msg.toLowerCase().includes(want.toLowerCase()), `message names "${want}":\n${msg}`);
      assert.ok(/error: /.test(msg) && !/\n\s+at /.test(msg), `one clear message, no stack:\n${msg}`);
      assert.is(ownSnapshotDiff(before, await hostSnapshot(exec), config), '', 'host unchanged');
      // nothing of the run is left: no state, no folder it made, no lease, no cache entry, no link of its own
      assert.not.ok(existsSync(path.join(config.stateDir, config.id)), 'no state of this instance');
      for (const d of ['leases', 'ipam-state', 'cni-cache', 'netns']) {
        const dir = path.join(root, d);
        assert.ok(!existsSync(dir) || readdirSync(dir, { recursive: true }).length === 0, `${d} left empty or absent`);
      }
      for (const l of [config.bridge, ...(c.links?.(e) ?? [])]) assert.not.ok(existsSync(`/sys/class/net/${l}`), `no link ${l}`);
    } finally {
      await forceTeardown(e.config, exec, undefined, c.links?.(e) ?? []).catch(() => undefined);
      await undo?.();
      removeRoot(root);
    }
  });
}

test.run();
