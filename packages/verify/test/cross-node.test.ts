import type { CrossNodePing } from '@cni-demo/core';
import { resolveConfig } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crossNodeChecks, crossNodePairs, netnsEnds, vmEnds } from '../src/cross-node.js';
import { formatAddressTable } from '../src/many.js';

test('cross-node pairs: every ordered pair of distinct nodes, ring neighbours first', () => {
  assert.equal(crossNodePairs(1), []);
  assert.equal(crossNodePairs(2), [
    [1, 2],
    [2, 1],
  ]);
  const three = crossNodePairs(3);
  assert.equal(three, [
    [1, 2],
    [2, 3],
    [3, 1],
    [1, 3],
    [2, 1],
    [3, 2],
  ]);
  const fifty = crossNodePairs(50);
  assert.is(fifty.length, 50 * 49, 'N·(N−1)');
  assert.is(new Set(fifty.map(([a, b]) => `${a}>${b}`)).size, 2450, 'each once');
  assert.not.ok(
    fifty.some(([a, b]) => a === b),
    'never a node to itself',
  );
});

test('a sample bounds the pairs and still has every node as a source and as a target', () => {
  const s = crossNodePairs(50, 60);
  assert.is(s.length, 60);
  assert.is(new Set(s.map(([a]) => a)).size, 50);
  assert.is(new Set(s.map(([, b]) => b)).size, 50);
  assert.equal(crossNodePairs(3, 0).length, 6, '0: every pair');
});

test('the ends: netns mode pings from and to the first container of each node; a VM computes the others', () => {
  const att = (containerId: string, node: number, ipv4: string) => ({
    containerId,
    netns: `/n/${containerId}`,
    result: {},
    ipv4,
    ipv6: `fd::${node}`,
    node,
  });
  const ends = netnsEnds([att('x-n1-1', 1, '10.0.0.2'), att('x-n1-2', 1, '10.0.0.3'), att('x-n2-1', 2, '10.0.1.2')]);
  assert.equal(
    ends.sources.map((s) => s.containerId),
    ['x-n1-1', 'x-n2-1'],
  );
  assert.equal(ends.targets[1], { node: 2, containerId: 'x-n2-1', ipv4: '10.0.1.2', ipv6: 'fd::2' });
  const config = resolveConfig({ env: {}, file: { nodes: 3, nodeIndex: 3 } }).config;
  const vm = vmEnds({ config } as never, [att('demo', 3, '192.168.201.2')]);
  assert.equal(vm.sources, [{ node: 3, containerId: 'demo', netns: '/n/demo' }]);
  assert.equal(
    vm.targets.map((t) => [t.node, t.ipv4, t.ipv6]),
    [
      [1, '192.168.199.2', 'fde4:8dba:82e1::2'],
      [2, '192.168.200.2', 'fde4:8dba:82e1:1::2'],
    ],
  );
});

test('checks: one per source node and family, failing with the node and address that did not answer', () => {
  const ping = (from: number, to: number, family: 4 | 6, ok: boolean, rttMs?: number): CrossNodePing => ({
    from: { node: from, containerId: `c${from}` },
    to: { node: to, containerId: `c${to}`, address: `a${to}` },
    family,
    ok,
    rttMs,
    detail: ok ? `reply in ${rttMs} ms` : 'no reply: 100% packet loss',
  });
  const checks = crossNodeChecks([ping(1, 2, 4, true, 0.1), ping(1, 3, 4, true, 0.3), ping(1, 2, 6, true, 0.2), ping(1, 3, 6, false)]);
  assert.equal(
    checks.map((c) => [c.name, c.ok]),
    [
      ['c1 (node 1) pings a container on nodes 2, 3 over IPv4', true],
      ['c1 (node 1) pings a container on nodes 2, 3 over IPv6', false],
    ],
  );
  assert.is(checks[0]?.detail, '2/2 replied, 0.1–0.3 ms');
  assert.match(checks[1]?.detail ?? '', /1 of 2 failed: node 3 a3: no reply/);
});

test('the address table is grouped by node, each under a line with its underlay address and subnets', () => {
  const table = formatAddressTable(
    [
      { containerId: 'x-n1-1', ipv4: '10.0.0.2', ipv6: 'fd::2', node: 1 },
      { containerId: 'x-n2-1', ipv4: '10.0.1.2', ipv6: 'fd:0:0:1::2', node: 2 },
    ],
    [
      { index: 1, name: 'x-n1', underlay4: '10.9.0.11', subnet4: '10.0.0.0/24', subnet6: 'fd::/64' },
      { index: 2, name: 'x-n2', underlay4: '10.9.0.12', subnet4: '10.0.1.0/24', subnet6: 'fd:0:0:1::/64' },
    ],
  ).split('\n');
  assert.match(table[2] ?? '', /^node 1 x-n1: underlay 10\.9\.0\.11, pods 10\.0\.0\.0\/24 fd::\/64$/);
  assert.match(table[3] ?? '', /^ {2}x-n1-1 +10\.0\.0\.2 +fd::2$/);
  assert.match(table[4] ?? '', /^node 2 x-n2/);
  assert.match(table[5] ?? '', /^ {2}x-n2-1/);
  // one node: as today, no grouping
  assert.not.match(formatAddressTable([{ containerId: 'a-1', ipv4: '1.1.1.1', ipv6: '::1' }]), /node/);
});

test.run();
