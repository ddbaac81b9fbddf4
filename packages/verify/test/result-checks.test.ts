import {
  type ConfList,
  createContext,
  createLogger,
  describeNetwork,
  generatedNetwork,
  type HostSetupState,
  parseRoutes,
  recordingExec,
  resolveConfig,
} from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatTable } from '../src/checks.js';
import { expectationsOf, findRoute, hostPathTo, parseResolvConf, resultChecks, routeDst, sameIp } from '../src/result-checks.js';

/** The bridge plugin's answer to the walkthrough's 10-connet.conf (0.4.0), as it printed it here. */
const WALKTHROUGH_RESULT = {
  cniVersion: '0.4.0',
  interfaces: [
    { name: 'cbr0', mac: '4a:a9:26:da:df:3b' },
    { name: 'veth6810840d', mac: 'a2:3f:d1:6b:91:6a' },
    { name: 'eth0', mac: 'b2:2b:f7:cd:3d:6b', sandbox: '/var/run/netns/demo' },
  ],
  ips: [
    { version: '4', interface: 2, address: '192.168.199.2/24', gateway: '192.168.199.1' },
    { version: '6', interface: 2, address: 'fde4:8dba:82e1::2/64', gateway: 'fde4:8dba:82e1::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: 'fde4:8dba:82e1::1/64' }],
  dns: { nameservers: ['8.8.8.8'] },
};

test("expectations come from the result: the walkthrough's odd route is the network fde4:8dba:82e1::/64 via the gateway", () => {
  const e = expectationsOf(WALKTHROUGH_RESULT, 'eth0');
  assert.equal(
    e.ips.map((i) => [i.cidr, i.ifname, i.gateway]),
    [
      ['192.168.199.2/24', 'eth0', '192.168.199.1'],
      ['fde4:8dba:82e1::2/64', 'eth0', 'fde4:8dba:82e1::1'],
    ],
  );
  assert.equal(
    e.routes.map((r) => [r.written, r.dst, r.via, r.ifname]),
    [
      ['0.0.0.0/0', 'default', '192.168.199.1', 'eth0'],
      ['fde4:8dba:82e1::1/64', 'fde4:8dba:82e1::/64', 'fde4:8dba:82e1::1', 'eth0'],
    ],
  );
  assert.equal(e.dns, { nameservers: ['8.8.8.8'], search: [], domain: undefined });
  assert.equal(e.hostInterfaces, ['cbr0', 'veth6810840d']);
});

test('a route with its own gw keeps it; an address without an interface index is on CNI_IFNAME; empty dns is none', () => {
  const e = expectationsOf(
    {
      cniVersion: '1.0.0',
      ips: [{ address: '10.0.0.5/24' }],
      routes: [{ dst: '10.9.0.0/16', gw: '10.0.0.254' }, { dst: '10.8.0.0/16' }],
      dns: {},
    },
    'net1',
  );
  assert.equal(
    e.routes.map((r) => [r.dst, r.via, r.ifname]),
    [
      ['10.9.0.0/16', '10.0.0.254', 'net1'],
      ['10.8.0.0/16', undefined, 'net1'],
    ],
  );
  assert.is(e.ips[0]?.ifname, 'net1');
  assert.is(e.ips[0]?.gateway, undefined);
  assert.is(e.dns, undefined);
  // a pre-0.3.0 result: ip4/ip6 become addresses and routes
  const legacy = expectationsOf(
    { cniVersion: '0.2.0', ip4: { ip: '10.1.0.2/24', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] }, dns: { search: ['a.test'] } },
    'eth0',
  );
  assert.equal(
    legacy.routes.map((r) => [r.dst, r.via]),
    [['default', '10.1.0.1']],
  );
  assert.equal(legacy.dns?.search, ['a.test']);
  assert.throws(() => expectationsOf({ cniVersion: '7.0.0' }, 'eth0'), /cniVersion "7\.0\.0" is not one/);
});

test('routes are matched as the kernel keeps them: the network, the gateway, the interface', () => {
  const v6 = parseRoutes(
    JSON.stringify([
      { dst: 'fde4:8dba:82e1::/64', dev: 'eth0', protocol: 'kernel', metric: 256 },
      { dst: 'fde4:8dba:82e1::/64', gateway: 'fde4:8dba:82e1:0::1', dev: 'eth0', metric: 1024 },
    ]),
    6,
  );
  const [, odd] = expectationsOf(WALKTHROUGH_RESULT, 'eth0').routes;
  assert.ok(odd);
  assert.is(findRoute(v6, odd)?.gateway, 'fde4:8dba:82e1:0::1', 'the same address however it is spelled');
  assert.is(findRoute(v6.slice(0, 1), odd), undefined, "the connected route alone is not the result's route");
  assert.is(findRoute(v6, { ...odd, ifname: 'net1' }), undefined, 'on another interface it is not');
  assert.is(routeDst('10.1.2.3/8'), '10.0.0.0/8');
  assert.is(routeDst('::/0'), 'default');
  assert.is(routeDst('10.1.2.3'), '10.1.2.3/32');
  assert.ok(sameIp('fd00::1', 'fd00:0:0::1'));
  assert.not.ok(sameIp('10.0.0.1', undefined));
});

test('resolv.conf is read for nameservers, search and domain', () => {
  assert.equal(parseResolvConf('# x\nnameserver 8.8.8.8\nsearch a.test b.test\ndomain c.test\nnameserver fd00::53\n'), {
    nameservers: ['8.8.8.8', 'fd00::53'],
    search: ['a.test', 'b.test'],
    domain: 'c.test',
  });
});

function ctxWith(routeDev: string | undefined) {
  const exec = recordingExec((argv) =>
    argv.includes('get') ? { stdout: JSON.stringify(routeDev ? [{ dst: argv.at(-1), dev: routeDev }] : []) } : undefined,
  );
  const { config } = resolveConfig({ env: {} });
  return { exec, ctx: createContext(config, { exec, log: createLogger({ quiet: true }) }) };
}
const view = (plugins: Record<string, unknown>[]) => {
  const l: ConfList = {
    name: 'n',
    cniVersion: '1.0.0',
    plugins: plugins as ConfList['plugins'],
    bytes: Buffer.from('{}'),
    source: '/n.conflist',
  };
  return describeNetwork(l, { source: 'file', file: '/n.conflist' });
};
const host = (extra: Partial<HostSetupState> = {}) => ({ bridge: '', ...extra }) as HostSetupState;
const exp = (hostInterfaces: string[]) => ({ ips: [], routes: [], dns: undefined, hostInterfaces });

test('a path from the host: promised by bridge+isGateway and ptp, else only over a link of the network', async () => {
  const { ctx, exec } = ctxWith('eth0');
  assert.ok((await hostPathTo(ctx, view([{ type: 'bridge', isGateway: true }]), host(), exp([]), '10.0.0.2')).reachable);
  assert.ok((await hostPathTo(ctx, view([{ type: 'ptp' }]), host(), exp([]), '10.0.0.2')).reachable);
  assert.ok((await hostPathTo(ctx, generatedNetwork(ctx.config, '/c'), host(), exp([]), '10.0.0.2')).reachable);
  assert.is(exec.calls.length, 0, 'no route lookup where the network promises the path');

  const mv = view([{ type: 'macvlan', master: 'eth0' }]);
  const own = await hostPathTo(ctx, mv, host(), exp([]), '10.0.0.2');
  assert.not.ok(own.reachable);
  assert.match((own as { reason: string }).reason, /cannot reach its own macvlan child: the host routes 10\.0\.0\.2 via eth0, its master/);
  // the --master-veth peer carries the gateways: the host's route to the container goes through it
  const { ctx: c2 } = ctxWith('m1-gw');
  assert.equal(await hostPathTo(c2, mv, host({ masterVeth: { master: 'm1', peer: 'm1-gw', addrs: [] } }), exp([]), '10.0.0.2'), {
    reachable: true,
    via: 'm1-gw',
  });
  const noGw = await hostPathTo(ctx, view([{ type: 'bridge', bridge: 'b9' }]), host(), exp(['b9']), '10.0.0.2');
  assert.match((noGw as { reason: string }).reason, /isGateway is off, so bridge b9 has no address: the host routes 10\.0\.0\.2 via eth0/);
  // an unknown plugin: a path when the host's route leaves through an interface of its result
  const { ctx: c3 } = ctxWith('tap7');
  assert.ok((await hostPathTo(c3, view([{ type: 'custom' }]), host(), exp(['tap7']), '10.0.0.2')).reachable);
  const none = await hostPathTo(ctx, view([{ type: 'custom' }]), host(), exp(['tap7']), '10.0.0.2');
  assert.match(
    (none as { reason: string }).reason,
    /the custom plugin gives the host no path: the host routes 10\.0\.0\.2 via eth0, not over an interface of the result \(tap7\)/,
  );
});

test('checks: one row per address, route, gateway and host ping, DNS last; not applicable only with a reason', async () => {
  const { ctx } = ctxWith(undefined);
  const rows = await resultChecks(
    ctx,
    {
      containerId: 'c1',
      netns: '/nonexistent/pin',
      result: { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/24' }], routes: [{ dst: '0.0.0.0/0' }] },
      ifname: 'eth0',
    },
    async () => ({ reachable: false, reason: 'no path (test)' }),
  );
  assert.equal(
    rows.map((r) => [r.name, r.na ?? false]),
    [
      ['eth0 has 10.0.0.5/24', false],
      ['route default dev eth0', false],
      ['container pings the gateway of 10.0.0.5/24', true],
      ['host pings container 10.0.0.5', true],
      ["resolv.conf has the result's DNS", true],
    ],
  );
  // nothing answers in this test: the address and route checks fail rather than pass
  assert.not.ok(rows[0]?.ok);
  assert.not.ok(rows[1]?.ok);
  assert.is(rows[3]?.detail, 'no path (test)');
  const table = formatTable(rows);
  assert.match(table, /host pings container 10\.0\.0\.5 +n\/a/);
  assert.match(table, /2 of 2 checks FAILED \(3 not applicable to this network\)/);
  const empty = await resultChecks(ctx, { containerId: 'c1', netns: '/x', result: { cniVersion: '1.0.0' }, ifname: 'eth0' }, async () => ({
    reachable: true,
  }));
  assert.is(empty[0]?.name, 'the CNI result has addresses');
  assert.not.ok(empty[0]?.ok, 'a result without addresses fails');
});

test.run();
