import { type Config, resolveConfig } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ownSnapshotDiff, pluginNames } from '../src/snapshot-filter.js';

/**
 * The filter on literal snapshots, in hostSnapshot's format: each kind of leftover the instance could make is
 * reported, and what other instances on the host do at the same time is not. Names the plugins derive are
 * literals taken from real runs of Debian's containernetworking-plugins 1.1.1 (the masquerade chain from a
 * bridge ADD, the DNAT chain and the ifb from portmap's and bandwidth's; snapshot.test.ts checks the same rule
 * against the plugins on this host).
 */
function config(o: Record<string, unknown> = {}): Config {
  return resolveConfig({
    env: {},
    file: {
      id: 't-c56514',
      network: 'tnet-c56514',
      bridge: 'prc56514',
      subnet4: '172.25.119.0/24',
      gateway4: '172.25.119.1',
      subnet6: 'fd00:c1d:1977::/64',
      gateway6: 'fd00:c1d:1977::1',
      confDir: '/tmp/pr-filter/net.d',
      stateDir: '/tmp/pr-filter/state',
      imageCacheDir: '/tmp/pr-filter/images',
      cniCacheDir: '/tmp/pr-filter/cni-cache',
      ipamDataDir: '/tmp/pr-filter/leases',
      runcRoot: '/tmp/pr-filter/runc',
      netnsDir: '/tmp/pr-filter/netns',
      install: false,
      ...o,
    },
  }).config;
}

/** An instance that maps a port: portmap (and firewall) run for it, so the shared chains may be its doing. */
const PORTS = { portMap: '18080:80/tcp' };
const FILTER_BASE = ['filter :INPUT ACCEPT', 'filter :FORWARD ACCEPT', 'filter :OUTPUT ACCEPT', 'filter -A INPUT -i lo -j ACCEPT'];
const snap = (o: Record<string, string[]> = {}) => {
  const base: Record<string, string[]> = {
    links: ['lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000'],
    addrs: [],
    routes4: [],
    routes6: [],
    iptables: FILTER_BASE,
    ip6tables: [],
    sysctls: ['net.ipv4.ip_forward=0', 'net.ipv6.conf.all.forwarding=0', 'net.bridge.bridge-nf-call-iptables=1'],
    mounts: ['/', '/proc'],
    files: [],
  };
  return Object.fromEntries(Object.entries({ ...base, ...o }).map(([k, v]) => [k, v.join('\n')]));
};
const lines = (s: string) => (s === '' ? [] : s.split('\n'));

test('pluginNames: the bridge plugin masquerade chain, the portmap DNAT chain and the bandwidth ifb as the real plugins named them', () => {
  assert.equal(pluginNames('tnet-c56514', 't-c56514'), {
    masqChain: 'CNI-7bff6cd83ea2117f80524d28',
    dnatChain: 'CNI-DN-7bff6cd83ea2117f80524',
    ifb: 'bwp7bff6cd83ea2',
  });
});

test('nothing changed: no line', () => {
  assert.is(ownSnapshotDiff(snap(), snap(), config()), '');
});

test('shared chains the instance left: portmap’s CNI-HOSTPORT-* and firewall’s CNI-FORWARD/CNI-ADMIN, their jumps and fixed rules', () => {
  const shared = [
    'nat :PREROUTING ACCEPT',
    'nat :POSTROUTING ACCEPT',
    'nat :CNI-HOSTPORT-DNAT -',
    'nat :CNI-HOSTPORT-MASQ -',
    'nat :CNI-HOSTPORT-SETMARK -',
    'nat -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
    'nat -A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
    'nat -A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE',
    'filter :CNI-FORWARD -',
    'filter :CNI-ADMIN -',
    'filter -A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
    'filter -A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN',
  ];
  const diff = lines(ownSnapshotDiff(snap(), snap({ iptables: [...FILTER_BASE, ...shared] }), config(PORTS)));
  assert.equal(
    diff,
    shared.filter((l) => !l.endsWith(' ACCEPT')).map((l) => `iptables + ${l}`),
    'every shared line, not the nat table’s built-in chains',
  );
  // the same chains gone (the instance's down removed chains that were there before it)
  assert.is(lines(ownSnapshotDiff(snap({ ip6tables: shared }), snap(), config(PORTS))).length, shared.length - 2);
  // a network file may chain portmap or firewall too
  assert.equal(
    lines(ownSnapshotDiff(snap(), snap({ iptables: [...FILTER_BASE, ...shared] }), config({ netconf: '/tmp/pr-filter/n.conflist' }))),
    diff,
  );
  // an instance that maps no ports never runs those plugins: the chains came or went with another instance
  assert.is(
    ownSnapshotDiff(snap(), snap({ iptables: [...FILTER_BASE, ...shared] }), config()),
    '',
    'appeared while a portless instance ran',
  );
  assert.is(ownSnapshotDiff(snap({ iptables: [...FILTER_BASE, ...shared] }), snap(), config()), '', 'went while a portless instance ran');
});

test('shared chains another instance uses (its DNAT jump, its firewall rule, an admin rule) are not this instance’s leak', () => {
  const natShared = [
    'nat :CNI-HOSTPORT-DNAT -',
    'nat :CNI-DN-0123456789abcdef01234 -',
    'nat -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
  ];
  const other =
    'nat -A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"other\\" id: \\"x\\"" -m multiport --dports 8080 -j CNI-DN-0123456789abcdef01234';
  assert.is(
    ownSnapshotDiff(snap(), snap({ iptables: [...FILTER_BASE, ...natShared, other] }), config(PORTS)),
    '',
    'appeared with another’s rule',
  );
  assert.is(
    ownSnapshotDiff(snap({ iptables: [...FILTER_BASE, ...natShared, other] }), snap(), config(PORTS)),
    '',
    'left with another’s rule',
  );
  const fw = ['filter :CNI-FORWARD -', 'filter -A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD'];
  assert.is(
    ownSnapshotDiff(snap(), snap({ iptables: [...FILTER_BASE, ...fw, 'filter -A CNI-FORWARD -d 10.9.0.2/32 -j ACCEPT'] }), config(PORTS)),
    '',
  );
  assert.is(
    ownSnapshotDiff(snap(), snap({ iptables: [...FILTER_BASE, ...fw, 'filter -A CNI-ADMIN -s 10.0.0.0/8 -j DROP'] }), config(PORTS)),
    '',
  );
  // this instance's own rule in the chain explains nothing: the chain and the rule are both reported
  const mine = 'filter -A CNI-FORWARD -d 172.25.119.2/32 -j ACCEPT';
  assert.equal(lines(ownSnapshotDiff(snap(), snap({ iptables: [...FILTER_BASE, ...fw, mine] }), config(PORTS))), [
    ...fw.map((l) => `iptables + ${l}`),
    `iptables + ${mine}`,
  ]);
});

test('an empty per-container chain (no rule names the instance) is found by the name the plugin derives; another instance’s is not', () => {
  const ours = ['nat :CNI-7bff6cd83ea2117f80524d28 -', 'nat :CNI-DN-7bff6cd83ea2117f80524 -'];
  const theirs = ['nat :CNI-0a2b3c4d5e6f708192a3b4c5 -', 'nat :CNI-DN-0a2b3c4d5e6f708192a3b -'];
  const diff = ownSnapshotDiff(
    snap(),
    snap({ iptables: [...FILTER_BASE, 'nat -A POSTROUTING -s 10.1.0.0/16 -j MASQUERADE', ...ours, ...theirs] }),
    config(),
  );
  assert.equal(
    lines(diff),
    ours.map((l) => `iptables + ${l}`),
  );
  // each container of an instance with several has its own
  const three = config({ containers: 3 });
  const second = pluginNames('tnet-c56514', 't-c56514-2').masqChain;
  assert.equal(lines(ownSnapshotDiff(snap(), snap({ iptables: [...FILTER_BASE, `nat :${second} -`] }), three)), [
    `iptables + nat :${second} -`,
  ]);
});

test('a chain policy changed in a table both snapshots have is reported; a table loaded for the first time is not', () => {
  const loadedNat = [
    'nat :PREROUTING ACCEPT',
    'nat :INPUT ACCEPT',
    'nat :OUTPUT ACCEPT',
    'nat :POSTROUTING ACCEPT',
    'nat -A POSTROUTING -s 10.1.0.0/16 -j MASQUERADE',
  ];
  assert.is(ownSnapshotDiff(snap(), snap({ iptables: [...FILTER_BASE, ...loadedNat] }), config()), '', 'another’s rule loaded nat');
  assert.is(ownSnapshotDiff(snap({ iptables: [...FILTER_BASE, ...loadedNat] }), snap(), config()), '', 'and it went away again');
  const dropped = FILTER_BASE.map((l) => l.replace(':FORWARD ACCEPT', ':FORWARD DROP'));
  assert.equal(lines(ownSnapshotDiff(snap(), snap({ iptables: dropped }), config())), [
    'iptables - filter :FORWARD ACCEPT',
    'iptables + filter :FORWARD DROP',
  ]);
  assert.equal(lines(ownSnapshotDiff(snap({ iptables: dropped }), snap(), config())), [
    'iptables - filter :FORWARD DROP',
    'iptables + filter :FORWARD ACCEPT',
  ]);
  // a DROP policy in a table that was not listed before is a change too
  assert.equal(lines(ownSnapshotDiff(snap({ ip6tables: [] }), snap({ ip6tables: ['filter :FORWARD DROP'] }), config())), [
    'ip6tables + filter :FORWARD DROP',
  ]);
});

test('net.bridge.* sysctls are reported; the shared forwarding sysctls are not', () => {
  const after = snap({ sysctls: ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.bridge.bridge-nf-call-iptables=0'] });
  assert.equal(lines(ownSnapshotDiff(snap(), after, config())), [
    'sysctls - net.bridge.bridge-nf-call-iptables=1',
    'sysctls + net.bridge.bridge-nf-call-iptables=0',
  ]);
  // br_netfilter loaded by the instance: its keys appear
  const loaded = snap({ sysctls: ['net.ipv4.ip_forward=0', 'net.ipv6.conf.all.forwarding=0'] });
  assert.equal(lines(ownSnapshotDiff(loaded, snap(), config())), ['sysctls + net.bridge.bridge-nf-call-iptables=1']);
});

test('mounts under any of the instance’s roots are reported; others’ are not', () => {
  const mounts = [
    '/',
    '/proc',
    '/tmp/pr-filter/state/t-c56514/rootfs',
    '/tmp/pr-filter/netns/t-c56514',
    '/tmp/pr-filter/images/x',
    '/tmp/other/state/y',
  ];
  assert.equal(lines(ownSnapshotDiff(snap(), snap({ mounts }), config())), [
    'mounts + /tmp/pr-filter/state/t-c56514/rootfs',
    'mounts + /tmp/pr-filter/netns/t-c56514',
    'mounts + /tmp/pr-filter/images/x',
  ]);
  assert.is(
    ownSnapshotDiff(snap(), snap({ mounts: ['/', '/proc', '/tmp/pr-filter/state-other/x'] }), config()),
    '',
    'a sibling folder is not under the root',
  );
});

test('files and folders under the instance’s conf, cache, IPAM and state folders are reported', () => {
  const files = [
    '/tmp/pr-filter/leases/',
    '/tmp/pr-filter/leases/tnet-c56514/',
    '/tmp/pr-filter/leases/tnet-c56514/172.25.119.2',
    '/tmp/pr-filter/net.d/10-tnet-c56514.conflist',
  ];
  assert.equal(
    lines(ownSnapshotDiff(snap(), snap({ files }), config())),
    files.map((f) => `files + ${f}`),
  );
});

test('an ifb device of the instance’s attachment is reported; another’s and the host’s ifb0 are not', () => {
  const links = [
    'lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000',
    'bwp7bff6cd83ea2: <BROADCAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc tbf state UNKNOWN mode DEFAULT group default qlen 32',
    'bwp0a2b3c4d5e6f: <BROADCAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc tbf state UNKNOWN mode DEFAULT group default qlen 32',
    'ifb0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 32',
  ];
  assert.equal(lines(ownSnapshotDiff(snap(), snap({ links }), config())), [
    'links + bwp7bff6cd83ea2: <BROADCAST,NOARP,UP> mtu 1500 qdisc tbf mode DEFAULT group default qlen 32',
  ]);
});

test('another instance’s bridge, routes and masquerade rules are not reported; ours by bridge, subnet and comment are', () => {
  const other = snap({
    links: [
      'lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000',
      'byc1: <BROADCAST,UP> mtu 1500',
    ],
    routes4: ['10.7.0.0/24 dev byc1 proto kernel scope link src 10.7.0.1'],
    iptables: [
      ...FILTER_BASE,
      'nat :POSTROUTING ACCEPT',
      'nat -A POSTROUTING -s 10.7.0.2/32 -m comment --comment "name: \\"x\\" id: \\"y\\"" -j CNI-aa',
    ],
  });
  assert.is(ownSnapshotDiff(snap(), other, config()), '');
  const ours = snap({
    links: [
      'lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000',
      'prc56514: <BROADCAST,UP> mtu 1500',
    ],
    routes4: ['172.25.119.0/24 dev prc56514 proto kernel scope link src 172.25.119.1'],
    iptables: [
      ...FILTER_BASE,
      'nat :POSTROUTING ACCEPT',
      'nat -A POSTROUTING -s 172.25.119.2/32 -m comment --comment "name: \\"tnet-c56514\\" id: \\"t-c56514\\"" -j CNI-7bff6cd83ea2117f80524d28',
    ],
  });
  assert.is(lines(ownSnapshotDiff(snap(), ours, config())).length, 3);
});

test.run();
