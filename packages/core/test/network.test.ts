import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type ConfList,
  describeNetwork,
  generatedNetwork,
  instanceNetwork,
  interfaceNameProblem,
  loadNetconf,
  networkLeaseDir,
  networkNameProblem,
  resolveConfig,
  UserError,
} from '../src/index.js';

/** A config list as the CNI runtime hands it over (a .conf wrapped into one plugin, as libcni does). */
function list(name: string, plugins: Record<string, unknown>[], cniVersion = '1.0.0'): ConfList {
  const bytes = Buffer.from(JSON.stringify({ name, cniVersion, plugins }));
  return { name, cniVersion, plugins: plugins as ConfList['plugins'], bytes, source: `/nets/${name}.conflist` };
}
const file = (l: ConfList) => describeNetwork(l, { source: 'file', file: l.source });
/** The config's own check of a flag: the problem text, or undefined when it passes. */
const resolveProblem = (argv: string[]) => {
  try {
    resolveConfig({ env: {}, argv });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
};

test("the walkthrough's 10-connet.conf: a bridge network with both ranges, host-local's default gateways, its own dataDir", () => {
  const v = file(
    list(
      'connet',
      [
        {
          type: 'bridge',
          bridge: 'cbr0',
          isGateway: true,
          ipMasq: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '192.168.199.0/24' }], [{ subnet: 'fde4:8dba:82e1::/64' }]],
            routes: [{ dst: '0.0.0.0/0' }, { dst: 'fde4:8dba:82e1::1/64' }],
            dataDir: '/run/ipam-state',
          },
          dns: { nameservers: ['8.8.8.8'] },
        },
      ],
      '0.4.0',
    ),
  );
  assert.is(v.kind, 'bridge');
  assert.equal(v.bridge, { name: 'cbr0', isGateway: true });
  assert.equal(v.bridges, ['cbr0']);
  assert.equal(v.binaries, ['bridge', 'host-local']);
  assert.equal(v.linkKinds, ['bridge', 'veth']);
  assert.equal(v.ranges, ['192.168.199.0/24', 'fde4:8dba:82e1::/64']);
  // host-local's own default when a range names none: the first address
  assert.equal(v.gateways, ['192.168.199.1/24', 'fde4:8dba:82e1::1/64']);
  assert.is(v.leaseStore, '/run/ipam-state');
  assert.is(networkLeaseDir(v), '/run/ipam-state/connet');
  assert.is(v.cniVersion, '0.4.0');
  assert.is(v.portMappings, false);
});

test('ptp, macvlan (master), host-device (device), bandwidth (ifb), static IPAM, the default bridge name', () => {
  const ptp = file(list('p', [{ type: 'ptp', ipam: { type: 'host-local', subnet: '10.9.0.0/24', gateway: '10.9.0.254' } }]));
  assert.is(ptp.kind, 'ptp');
  assert.is(ptp.bridge, undefined);
  assert.equal(ptp.ranges, ['10.9.0.0/24']);
  assert.equal(ptp.gateways, ['10.9.0.254/24']);
  assert.is(ptp.leaseStore, '/var/lib/cni/networks', "host-local's default store");

  const mv = file(
    list('m', [
      { type: 'macvlan', master: 'eth9', ipam: { type: 'static', addresses: [{ address: '10.1.2.3/24', gateway: '10.1.2.1' }] } },
    ]),
  );
  assert.equal(mv.parent, { field: 'master', name: 'eth9' });
  assert.equal(mv.linkKinds, ['macvlan']);
  assert.equal(mv.ranges, ['10.1.2.0/24']);
  assert.equal(mv.gateways, ['10.1.2.1/24']);
  assert.is(mv.leaseStore, undefined, 'no lease store for static');

  const hd = file(list('h', [{ type: 'host-device', device: 'ens9' }]));
  assert.equal(hd.parent, { field: 'device', name: 'ens9' });
  assert.equal(hd.ranges, []);

  const bw = file(
    list('b', [{ type: 'bridge' }, { type: 'tuning' }, { type: 'bandwidth' }, { type: 'portmap', capabilities: { portMappings: true } }]),
  );
  assert.equal(bw.bridges, ['cni0'], "the bridge plugin's default name");
  assert.equal(bw.linkKinds, ['bridge', 'veth', 'ifb']);
  assert.equal(bw.plugins, ['bridge', 'tuning', 'bandwidth', 'portmap']);
  assert.is(bw.bridge?.isGateway, false);
  assert.is(bw.portMappings, true);
});

test('a plugin that delegates (flannel style): the delegate wires the container, its binaries and bridge are the network’s', () => {
  const v = file(
    list('d', [
      {
        type: 'my-plugin',
        delegate: {
          type: 'bridge',
          bridge: 'br-dev',
          isGateway: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.3.0.0/24' }]] },
        },
      },
    ]),
  );
  assert.is(v.mainType, 'bridge');
  assert.is(v.kind, 'bridge');
  assert.equal(v.binaries, ['my-plugin', 'bridge', 'host-local']);
  assert.equal(v.bridges, ['br-dev']);
  assert.equal(v.ranges, ['10.3.0.0/24']);
  // an unknown plugin that delegates nothing is "other", with the IPAM of its own config
  const o = file(list('o', [{ type: 'custom', ipam: { type: 'host-local', ranges: [[{ subnet: '10.4.0.0/24' }]] } }]));
  assert.is(o.kind, 'other');
  assert.equal(o.ranges, ['10.4.0.0/24']);
});

test('link names from the file must be names Linux takes; the message names the field', () => {
  for (const [bad, why] of [
    ['br/../x', /"\/"/],
    ['a-very-long-bridge-name', /15/],
    ['', /empty/],
  ] as const) {
    try {
      file(list('n', [{ type: 'bridge', bridge: bad }]));
      assert.unreachable(`${bad} accepted`);
    } catch (e) {
      assert.instance(e, UserError);
      assert.is((e as UserError).field, 'netconf');
      assert.match((e as Error).message, /"plugins\[0\]\.bridge"/);
      assert.match((e as Error).message, why);
    }
  }
  assert.throws(() => file(list('n', [{ type: 'macvlan', master: 'eth 0' }])), /plugins\[0\]\.master/);
});

test("names from the file are held to the config's rules (name-rules.ts), whatever the config says", () => {
  const refused = (l: ConfList, where: RegExp, why: RegExp, rule: (s: string) => string | undefined, name: string) => {
    const e = (() => {
      try {
        file(l);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    assert.instance(e, UserError, `${JSON.stringify(name)} accepted`);
    assert.is((e as UserError).field, 'netconf');
    assert.match((e as Error).message, where);
    assert.match((e as Error).message, why);
    // the same words as the config's own check of that kind of name: one rule, not a copy
    assert.ok((e as Error).message.includes(rule(name) ?? '(no problem)'), `${(e as Error).message} carries the rule's text`);
  };
  // what other tools would read as syntax: an iptables wildcard, what ip -batch reads as a quote or a comment
  for (const bad of ['br+', 'br"0', "br'0", 'br#0', 'br 0', '-br0', 'br:0']) {
    assert.ok(resolveProblem(['--bridge', bad]), `the config refuses --bridge ${bad}`);
    refused(list('n', [{ type: 'bridge', bridge: bad }]), /"plugins\[0\]\.bridge"/, /./, interfaceNameProblem, bad);
    refused(
      list('n', [{ type: 'wrapper', delegate: { type: 'bridge', bridge: bad } }]),
      /"plugins\[0\]\.delegate\.bridge"/,
      /./,
      interfaceNameProblem,
      bad,
    );
    refused(list('n', [{ type: 'macvlan', master: bad }]), /"plugins\[0\]\.master"/, /./, interfaceNameProblem, bad);
    refused(list('n', [{ type: 'host-device', device: bad }]), /"plugins\[0\]\.device"/, /./, interfaceNameProblem, bad);
  }
  // the network's own name: the length limit that keeps every derived path valid (266 made the bridge, then ENAMETOOLONG)
  const long = 'n'.repeat(266);
  assert.ok(resolveProblem(['--network', long]), 'the config refuses it as --network');
  refused(list(long, [{ type: 'bridge', bridge: 'br0' }]), /"name"/, /at most 64/, networkNameProblem, long);
  assert.is(file(list('n'.repeat(64), [{ type: 'bridge', bridge: 'br0' }])).name, 'n'.repeat(64), '64 characters are fine');
});

test('the digest is of the bytes the runtime caches; the generated network is described the same way', () => {
  const l = list('x', [{ type: 'ptp' }]);
  assert.is(file(l).digest, createHash('sha256').update(l.bytes).digest('hex'));
  const { config } = resolveConfig({ env: {}, file: { ipamDataDir: '/tmp/leases' } });
  const g = generatedNetwork(config, '/etc/cni/net.d/10-connet.conflist');
  assert.is(g.source, 'generated');
  assert.is(g.name, config.network);
  assert.equal(g.bridge, { name: config.bridge, isGateway: true });
  assert.equal(g.ranges, [config.subnet4, config.subnet6]);
  assert.equal(g.gateways, [`${config.gateway4}/24`, `${config.gateway6}/64`]);
  assert.is(g.leaseStore, '/tmp/leases');
});

test("loadNetconf: the runtime's errors become one UserError on netconf; instanceNetwork prefers the state, then the file", () => {
  const failing = () => {
    throw Object.assign(new Error('/x.conf: "(plugin).type": missing \'type\' (CNI error code 7)'), { code: 7 });
  };
  try {
    loadNetconf('/x.conf', failing);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, UserError);
    assert.is((e as UserError).field, 'netconf');
    assert.is((e as Error).message, 'netconf: /x.conf: "(plugin).type": missing \'type\'');
    assert.match((e as UserError).hint ?? '', /"plugins" list.*"type"/);
  }
  const l = list('mine', [{ type: 'ptp' }]);
  const { config } = resolveConfig({ env: {}, file: { netconf: '/nets/mine.conflist' } });
  assert.is(instanceNetwork(config, '/unused', () => l).name, 'mine', 'read from the file');
  const recorded = generatedNetwork(config, '/c');
  assert.is(instanceNetwork(config, '/unused', failing, { network: recorded }), recorded, "host-setup's record first");
  const { config: plain } = resolveConfig({ env: {} });
  assert.is(instanceNetwork(plain, '/c', failing).source, 'generated');
});

test.run();
