import { type LinkInfo, nodeList, parseLinks, type RouteInfo, resolveConfig } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqRules, nodeBatch, nodeRecord, restoreInput, routeBatch } from '../src/plan.js';

const config = resolveConfig({
  env: {},
  file: {
    id: 'lab',
    nodes: 3,
    bridge: 'br9',
    underlayBridge: 'ul9',
    underlaySubnet: '10.5.0.0/24',
    subnet4: '10.6.0.0/24',
    gateway4: '10.6.0.1',
    subnet6: 'fd00:6::/64',
    gateway6: 'fd00:6::1',
  },
}).config;
const [n1, n2] = nodeList(config).map((n) => nodeRecord(config, n));
const HOST = '/proc/42/ns/net';

test('a fresh node: loopback marked, the underlay veth made from inside with both addresses, its bridge with both gateways', () => {
  assert.equal(nodeBatch(config, n2 as never, undefined, HOST), [
    'link set dev lo up',
    'link set dev lo alias cni-demo:lab',
    'link add ul0 type veth peer name ul9-2 netns /proc/42/ns/net',
    'addr add 10.5.0.12/24 dev ul0',
    'addr add fe80::a05:c/64 dev ul0 nodad',
    'link set dev ul0 up',
    'link add name br9 type bridge',
    'addr add 10.6.1.1/24 dev br9',
    'addr add fd00:6:0:1::1/64 dev br9 nodad',
    'link set dev br9 up',
    'link set dev br9 alias cni-demo:lab',
  ]);
});

const link = (over: Partial<LinkInfo> & { ifname: string }): LinkInfo => ({
  ifindex: 1,
  kind: undefined,
  master: undefined,
  up: true,
  mac: undefined,
  mtu: 1500,
  addrs: [],
  peerIfindex: undefined,
  peerNetnsId: undefined,
  ...over,
});

test('a complete node needs nothing; a node killed midway gets exactly what it lacks', () => {
  const mark = 'cni-demo:lab';
  const complete = [
    link({ ifname: 'lo', alias: mark }),
    link({
      ifname: 'ul0',
      kind: 'veth',
      addrs: [
        { family: 4, local: '10.5.0.11', prefixlen: 24, scope: 'global' },
        { family: 6, local: 'fe80::a05:b', prefixlen: 64, scope: 'link' },
      ],
    }),
    link({
      ifname: 'br9',
      kind: 'bridge',
      alias: mark,
      addrs: [
        { family: 4, local: '10.6.0.1', prefixlen: 24, scope: 'global' },
        { family: 6, local: 'fd00:6::1', prefixlen: 64, scope: 'global' },
      ],
    }),
  ];
  assert.equal(nodeBatch(config, n1 as never, { links: complete, routes: [] }, HOST), []);
  // killed right after the namespace was made: loopback up but nothing else
  assert.equal(nodeBatch(config, n1 as never, { links: [link({ ifname: 'lo' })], routes: [] }, HOST).slice(0, 2), [
    'link set dev lo alias cni-demo:lab',
    'link add ul0 type veth peer name ul9-1 netns /proc/42/ns/net',
  ]);
  // the bridge there, its IPv6 gateway not yet
  const partial = complete.map((l) => (l.ifname === 'br9' ? { ...l, addrs: l.addrs.slice(0, 1) } : l));
  assert.equal(nodeBatch(config, n1 as never, { links: partial, routes: [] }, HOST), ['addr add fd00:6::1/64 dev br9 nodad']);
  // parseLinks reads the alias ip prints as ifalias
  assert.is(parseLinks(JSON.stringify([{ ifname: 'lo', ifindex: 1, ifalias: mark }]))[0]?.alias, mark);
});

test('routes: the missing ones as replace lines over the underlay link; present ones are left alone', () => {
  const all = routeBatch(n1 as never);
  assert.equal(all, [
    'route replace 10.6.1.0/24 via 10.5.0.12 dev ul0',
    'route replace fd00:6:0:1::/64 via fe80::a05:c dev ul0',
    'route replace 10.6.2.0/24 via 10.5.0.13 dev ul0',
    'route replace fd00:6:0:2::/64 via fe80::a05:d dev ul0',
  ]);
  const have: RouteInfo[] = [
    {
      family: 4,
      dst: '10.6.1.0/24',
      gateway: '10.5.0.12',
      dev: 'ul0',
      table: undefined,
      type: undefined,
      scope: undefined,
      protocol: undefined,
    },
  ];
  assert.is(routeBatch(n1 as never, have).length, 3);
  // the same destination via another next hop is not ours: replaced
  assert.is(routeBatch(n1 as never, [{ ...(have[0] as RouteInfo), gateway: '10.5.0.99' }]).length, 4);
});

test('masquerade: RETURN towards the cluster, MASQUERADE beyond, as iptables-restore input with the comment quoted', () => {
  const r = masqRules(config, n2 as never);
  assert.equal(r.iptables[0], [
    '-s',
    '10.6.1.0/24',
    '-d',
    '10.6.0.0/23',
    '-m',
    'comment',
    '--comment',
    'cni-demo id=lab nodes',
    '-j',
    'RETURN',
  ]);
  assert.equal(
    r.iptables.map((x) => x.at(-1)),
    ['RETURN', 'RETURN', 'MASQUERADE'],
    '10.6.0.0/23 and 10.6.2.0/24 cover three nodes',
  );
  assert.equal(r.ip6tables.at(-1)?.slice(0, 5), ['-s', 'fd00:6:0:1::/64', '!', '-d', 'ff00::/8']);
  assert.is(
    restoreInput(r.iptables.slice(0, 1)),
    '*nat\n-A POSTROUTING -s 10.6.1.0/24 -d 10.6.0.0/23 -m comment --comment "cni-demo id=lab nodes" -j RETURN\nCOMMIT\n',
  );
});

test.run();
