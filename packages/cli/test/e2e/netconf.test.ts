import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  type CheckResult,
  type CniAttachState,
  type Config,
  type Ctx,
  createContext,
  createExec,
  createLogger,
  findMasqChains,
  getLink,
  type HostSetupState,
  linkAlias,
  linkMark,
  readLinks,
  type VerifyState,
} from '@cni-demo/core';
import { forceTeardown, hostSnapshot, ownSnapshotDiff, removeRoot, tag, testConfig, testPrefix, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../../src/pipeline.js';
import { hostLocal, MARKER, walkthroughConf, writeMarkerPlugin, writeNetconf } from './netconf-env.js';

/**
 * Your own network, for real: each file goes through the same pipeline (real runc container, real plugins),
 * verify's checks come from the ADD result, and down leaves the host as it found it and the file untouched.
 */
const exec = createExec();

interface Run {
  config: Config;
  ctx: Ctx;
  root: string;
  file: string;
  checks: CheckResult[];
  host: HostSetupState;
  att: CniAttachState;
}

/**
 * Up with the file `make` writes (from the test's own names and subnets), the test's assertions while it is up
 * (`during`), then down; the host must be as before and the user's file unchanged.
 */
async function withNetwork(
  make: (config: Config, root: string) => string,
  during: (r: Run) => Promise<void>,
  opts: {
    overrides?: (root: string) => Record<string, unknown>;
    links?: (config: Config) => string[];
    after?: (r: Run) => Promise<void> | void;
  } = {},
): Promise<void> {
  const before = await hostSnapshot(exec);
  const t = await testConfig();
  const root = t.root;
  const file = make(t.config, root);
  const config: Config = { ...t.config, netconf: file, ...opts.overrides?.(root) };
  const ctx = createContext(config, { log: createLogger({ quiet: !process.env.CNI_DEMO_TEST_VERBOSE }) });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec, undefined, opts.links?.(config) ?? []));
    const bytes = readFileSync(file);
    const mtime = statSync(file).mtimeMs;

    await pipelineUp(ctx);
    const v = ctx.state.read<VerifyState>('verify');
    const host = ctx.state.read<HostSetupState>('host-setup') as HostSetupState;
    const att = ctx.state.read<CniAttachState>('cni-attach') as CniAttachState;
    assert.ok(v?.ok, `verify passed: ${JSON.stringify(v?.checks.filter((x) => !x.ok))}`);
    const run: Run = { config, ctx, root, file, checks: v?.checks ?? [], host, att };
    await during(run);

    await pipelineDown(ctx);
    assert.ok(Buffer.from(readFileSync(file)).equals(bytes), 'the user file is unchanged');
    assert.is(statSync(file).mtimeMs, mtime, 'the user file was not written to');
    assert.not.ok(existsSync(config.stateDir), 'state removed');
    const results = path.join(config.cniCacheDir, 'results');
    assert.ok(!existsSync(results) || readdirSync(results).length === 0, 'CNI cache entry removed');
    const runc = await exec('runc', ['--root', config.runcRoot, 'list', '-q']);
    assert.is(runc.stdout.trim(), '', 'no runc container left');
    await opts.after?.(run);
    assert.is(
      ownSnapshotDiff(before, await hostSnapshot(exec), config),
      '',
      'host links, addresses, routes, iptables and sysctls unchanged',
    );
  });
}

/** The rows by name; every one that must run did, and the not-applicable ones are exactly `na`. */
function rows(checks: CheckResult[], na: string[] = []): Map<string, CheckResult> {
  const m = new Map(checks.map((c) => [c.name, c]));
  assert.equal(
    checks.filter((c) => c.na).map((c) => c.name),
    na,
    'not applicable only where the network gives no such thing',
  );
  return m;
}

const has = (m: Map<string, CheckResult>, name: string) =>
  assert.ok(m.get(name)?.ok && !m.get(name)?.na, `${name} ran and passed: ${[...m.keys()].join(' | ')}`);

test("the walkthrough's own 10-connet.conf (names, subnets and dataDir replaced) runs as printed", async () => {
  await withNetwork(
    (config, root) => writeNetconf(root, '10-connet.conf', walkthroughConf(config, path.join(root, 'ipam-state'))),
    async ({ config, checks, host, att, root }) => {
      const m = rows(checks);
      const [a4, a6] = [att.ipv4, att.ipv6];
      has(m, `eth0 has ${a4}/24`);
      has(m, `eth0 has ${a6}/64`);
      has(m, `route default via ${config.gateway4}`);
      // the walkthrough's odd route, taken as a network, via the gateway the plugin fills in
      has(m, `route fde4:8dba:82e1::/64 via ${config.gateway6} (result: fde4:8dba:82e1::1/64)`);
      has(m, `container pings gateway ${config.gateway4}`);
      has(m, `container pings gateway ${config.gateway6}`);
      has(m, `host pings container ${a4}`);
      has(m, `host pings container ${a6}`);
      has(m, `resolv.conf has the result's DNS`);
      assert.is(m.get(`resolv.conf has the result's DNS`)?.detail, 'nameserver 8.8.8.8');
      // and the range check: every address of the result in the file's own ranges
      has(m, "CNI result in the network's ranges");
      assert.is(checks.length, 10);
      // the walkthrough's hand-made bridge: made (and marked) by host-setup with both gateways, as today
      assert.is(host.createdBridge, true);
      assert.equal(host.addrs, [`${config.gateway4}/24`, `${config.gateway6}/64`]);
      assert.is(linkAlias(config.bridge), linkMark(config.id));
      assert.is(host.network?.source, 'file');
      assert.is(host.network?.name, config.network);
      assert.not.ok(host.wroteConf, 'no config file of ours: the plugins read the user file');
      // the leases live in the file's own dataDir
      assert.ok(existsSync(path.join(root, 'ipam-state', config.network, a4 ?? '')), 'lease in the dataDir of the file');
    },
    {
      after: ({ config, root }) => {
        assert.not.ok(existsSync(path.join(root, 'ipam-state')), 'the dataDir the plugin made is removed with its leases');
        assert.not.ok(existsSync(`/sys/class/net/${config.bridge}`), 'bridge removed');
      },
    },
  );
});

test('ptp + host-local: a veth pair per container, the host reaches it over the veth, masquerade chains removed by DEL', async () => {
  await withNetwork(
    (config, root) =>
      writeNetconf(root, 'ptp.conflist', {
        cniVersion: '1.0.0',
        name: config.network,
        plugins: [{ type: 'ptp', ipMasq: true, ipam: hostLocal(config, path.join(root, 'leases-ptp')) }],
      }),
    async ({ config, checks, host, att }) => {
      const m = rows(checks, [`resolv.conf has the result's DNS`]);
      has(m, `route default via ${config.gateway4}`);
      has(m, `route default via ${config.gateway6}`);
      has(m, `host pings container ${att.ipv4}`);
      has(m, `host pings container ${att.ipv6}`);
      has(m, `container pings gateway ${config.gateway4}`);
      assert.is(host.bridge, '', 'no bridge');
      assert.is(host.network?.kind, 'ptp');
      const hostEnd = (att.result as { interfaces: { name: string; sandbox?: string }[] }).interfaces.find((i) => !i.sandbox)?.name ?? '';
      const link = await getLink(exec, hostEnd);
      assert.ok(
        link?.addrs.some((a) => a.local === config.gateway4),
        `the host end ${hostEnd} carries the gateway`,
      );
      const chains = await findMasqChains(exec, config.network, [config.id]);
      assert.ok(chains.length >= 1, 'the ptp ipMasq chain is made (DEL removes it: the host snapshot after down)');
    },
  );
});

test('macvlan on a veth master made by --master-veth: gateways on its other end, the pair removed by down', async () => {
  const master = `${testPrefix('ctb')}m${tag(2)}`;
  await withNetwork(
    (config, root) =>
      writeNetconf(root, 'macvlan.conflist', {
        cniVersion: '1.0.0',
        name: config.network,
        plugins: [{ type: 'macvlan', master, mode: 'bridge', ipam: hostLocal(config, path.join(root, 'leases-mv')) }],
      }),
    async ({ config, checks, host, att, ctx }) => {
      const m = rows(checks, [`resolv.conf has the result's DNS`]);
      has(m, `container pings gateway ${config.gateway4}`);
      has(m, `container pings gateway ${config.gateway6}`);
      // through the pair's other end, which carries the gateways: the host has a path
      has(m, `host pings container ${att.ipv4}`);
      has(m, `host pings container ${att.ipv6}`);
      assert.equal(host.masterVeth, { master, peer: `${master}-gw`, addrs: [`${config.gateway4}/24`, `${config.gateway6}/64`] });
      assert.is(linkAlias(master), linkMark(config.id), 'the master carries the mark');
      const inside = await readLinks(exec, { pin: att.netns, args: ['-d', 'link', 'show', 'dev', 'eth0'] });
      assert.is(inside[0]?.kind, 'macvlan');
      const report = JSON.parse(readFileSync(path.join(ctx.names.runDir, 'report.json'), 'utf8')) as {
        topology: { veths: { hostIf: string; link?: string }[] };
      };
      assert.ok(
        report.topology.veths.some((v) => v.hostIf === master && v.link === 'macvlan on'),
        'the picture shows eth0 on its master',
      );
    },
    {
      overrides: () => ({ masterVeth: true }),
      links: () => [master],
      after: () => {
        assert.not.ok(existsSync(`/sys/class/net/${master}`), 'master removed');
        assert.not.ok(existsSync(`/sys/class/net/${master}-gw`), 'its peer removed');
      },
    },
  );
});

test('bridge + tuning + bandwidth: the plugin makes the bridge (marked after ADD, removed by down), tuning and bandwidth act', async () => {
  let ifb = '';
  await withNetwork(
    (config, root) =>
      writeNetconf(root, 'shaped.conflist', {
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
              ranges: [[{ subnet: config.subnet4 }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: path.join(root, 'leases-bw'),
            },
          },
          { type: 'tuning', mtu: 1400, sysctl: { 'net.ipv4.conf.eth0.arp_ignore': '1' } },
          { type: 'bandwidth', ingressRate: 100_000_000, ingressBurst: 1_000_000, egressRate: 100_000_000, egressBurst: 1_000_000 },
        ],
      }),
    async ({ config, checks, host, att }) => {
      const m = rows(checks, [`resolv.conf has the result's DNS`]);
      has(m, `host pings container ${att.ipv4}`);
      assert.is(checks.filter((c) => c.name.includes(':')).length, 0, 'an IPv4-only network: no IPv6 check');
      // the bridge was left to the plugin: absent before up, marked after ADD
      assert.is(host.createdBridge, false);
      assert.equal(host.pluginBridges, [config.bridge]);
      assert.is(linkAlias(config.bridge), linkMark(config.id));
      // tuning: mtu and sysctl inside the container
      const eth0 = (await readLinks(exec, { pin: att.netns, args: ['link', 'show', 'dev', 'eth0'] }))[0];
      assert.is(eth0?.mtu, 1400);
      const sysctl = await exec('nsenter', [`--net=${att.netns}`, 'cat', '/proc/sys/net/ipv4/conf/eth0/arp_ignore']);
      assert.is(sysctl.stdout.trim(), '1');
      // bandwidth: its ifb on the host, named by the result, and a tbf on the host's veth end
      ifb = (att.result as { interfaces: { name: string }[] }).interfaces.find((i) => i.name.startsWith('bwp'))?.name ?? '';
      assert.ok(ifb && existsSync(`/sys/class/net/${ifb}`), `the bandwidth ifb ${ifb} exists`);
      const qdisc = await exec('tc', ['qdisc', 'show', 'dev', ifb]);
      assert.match(qdisc.stdout, /tbf/);
    },
    {
      after: ({ config }) => {
        assert.not.ok(existsSync(`/sys/class/net/${config.bridge}`), 'the bridge the plugin made is removed');
        assert.ok(ifb !== '' && !existsSync(`/sys/class/net/${ifb}`), `the ifb ${ifb} is removed by DEL`);
      },
    },
  );
});

test('host-local with static ips (args.cni.ips): the container gets exactly those addresses', async () => {
  let want: string[] = [];
  await withNetwork(
    (config, root) => {
      want = [config.gateway4.replace(/\.1$/, '.77'), config.gateway6.replace(/::1$/, '::77')];
      return writeNetconf(root, 'static.conflist', {
        cniVersion: '1.0.0',
        name: config.network,
        plugins: [
          {
            type: 'bridge',
            bridge: config.bridge,
            isGateway: true,
            args: { cni: { ips: want } },
            ipam: hostLocal(config, path.join(root, 'leases-static')),
          },
        ],
      });
    },
    async ({ checks, att }) => {
      assert.equal([att.ipv4, att.ipv6], want);
      const m = rows(checks, [`resolv.conf has the result's DNS`]);
      has(m, `eth0 has ${want[0]}/24`);
      has(m, `eth0 has ${want[1]}/64`);
      has(m, `host pings container ${want[0]}`);
    },
  );
});

test('a plugin under development in its own folder (--plugin-dirs): its result, marker and all, is what is checked', async () => {
  await withNetwork(
    (config, root) => {
      writeMarkerPlugin(path.join(root, 'my-plugins'));
      return writeNetconf(root, 'dev.conflist', {
        cniVersion: '1.0.0',
        name: config.network,
        plugins: [
          {
            type: 'fake-marker',
            marker: MARKER,
            delegate: {
              type: 'bridge',
              bridge: config.bridge,
              isGateway: true,
              ipMasq: true,
              ipam: hostLocal(config, path.join(root, 'leases-dev')),
            },
          },
        ],
      });
    },
    async ({ config, checks, att, host, root }) => {
      const m = rows(checks);
      const dns = m.get(`resolv.conf has the result's DNS`);
      assert.ok(dns?.ok && !dns.na && dns.detail.includes(`search ${MARKER}`), `the DNS check looks for the marker: ${dns?.detail}`);
      assert.equal((att.result as { dns?: { search?: string[] } }).dns?.search, [MARKER], "the result kept is the chain's, marker and all");
      const resolv = await exec('runc', ['--root', config.runcRoot, 'exec', config.id, 'cat', '/etc/resolv.conf']);
      assert.match(resolv.stdout, new RegExp(`^search ${MARKER.replaceAll('.', '\\.')}$`, 'm'));
      assert.is(host.pluginDirs[0], path.join(root, 'my-plugins'), 'the plugin folder comes first');
      assert.equal(host.network?.binaries, ['fake-marker', 'bridge', 'host-local'], 'the delegate and its IPAM were looked up too');
      assert.is(host.network?.kind, 'bridge', 'wired by its delegate');
      has(m, `host pings container ${att.ipv4}`);
      has(m, `host pings container ${att.ipv6}`);
    },
    { overrides: (root) => ({ pluginDirs: [path.join(root, 'my-plugins'), '/usr/lib/cni'] }) },
  );
});

test.run();
