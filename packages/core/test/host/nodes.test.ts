import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  isMarkedNode,
  linkWithAddress,
  markedUnderlayVeths,
  nodePinsIn,
  parseLinks,
  type RouteInfo,
  routesPresent,
} from '../../src/index.js';

const route = (dst: string, gateway: string | undefined): RouteInfo => ({
  family: dst.includes(':') ? 6 : 4,
  dst,
  gateway,
  dev: 'ul0',
  table: undefined,
  type: undefined,
  scope: undefined,
  protocol: undefined,
});

test('routesPresent: a wanted route counts when destination and next hop match (any dev, any case)', () => {
  const wanted = [
    { family: 4 as const, dst: '10.6.1.0/24', via: '10.5.0.12', node: 2 },
    { family: 6 as const, dst: 'fd00:6:0:1::/64', via: 'fe80::a05:c', node: 2 },
  ];
  assert.equal(routesPresent([route('10.6.1.0/24', '10.5.0.12'), route('FD00:6:0:1::/64', 'FE80::A05:C')], wanted), wanted);
  assert.equal(routesPresent([route('10.6.1.0/24', '10.5.0.99')], wanted), [], 'another next hop is not ours');
  assert.equal(routesPresent([], wanted), []);
});

test('a node is ours when its loopback carries the mark; a VM finds its underlay interface by address', () => {
  const links = parseLinks(
    JSON.stringify([
      { ifname: 'lo', ifindex: 1, ifalias: 'cni-demo:lab' },
      { ifname: 'eth1', ifindex: 3, addr_info: [{ family: 'inet', local: '192.168.56.12', prefixlen: 24, scope: 'global' }] },
    ]),
  );
  assert.ok(isMarkedNode({ links, routes: [] }, 'lab'));
  assert.not.ok(isMarkedNode({ links, routes: [] }, 'la'), 'another id');
  assert.not.ok(isMarkedNode(undefined, 'lab'), 'nothing pinned');
  assert.is(linkWithAddress(links, '192.168.56.12')?.ifname, 'eth1');
  assert.is(linkWithAddress(links, '192.168.56.13'), undefined);
});

test('node pins and underlay veths of an instance, by derived name (and mark), whatever --nodes says now', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'core-nodes-'));
  try {
    const netns = path.join(dir, 'netns');
    mkdirSync(netns);
    for (const f of ['lab-n1', 'lab-n10', 'lab-n2', 'lab-n2-1', 'lab-1', 'labx-n1', 'lab-nx']) writeFileSync(path.join(netns, f), '');
    assert.equal(
      nodePinsIn({ id: 'lab', netnsDir: netns }).map((p) => path.basename(p)),
      ['lab-n1', 'lab-n2', 'lab-n10'],
    );
    assert.equal(nodePinsIn({ id: 'lab', netnsDir: path.join(dir, 'none') }), []);
    // a sysfs of our own: ul9-1 and ul9-3 carry the mark, ul9-2 someone else's, ul9x-1 another name
    const sys = path.join(dir, 'sys');
    for (const [name, alias] of [
      ['ul9-1', 'cni-demo:lab'],
      ['ul9-2', 'cni-demo:other'],
      ['ul9-3', 'cni-demo:lab'],
      ['ul9x-1', 'cni-demo:lab'],
    ]) {
      mkdirSync(path.join(sys, name as string), { recursive: true });
      writeFileSync(path.join(sys, name as string, 'ifalias'), `${alias}\n`);
    }
    assert.equal(markedUnderlayVeths({ id: 'lab', underlayBridge: 'ul9' }, sys), ['ul9-1', 'ul9-3']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
