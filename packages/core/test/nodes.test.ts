import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  clusterCidrs,
  containerIds,
  defaults,
  enclosingBlock,
  isNodeNameOf,
  localConfig,
  maxNodes,
  nodeList,
  nodeMasqRules,
  nodeMode,
  nodeOfContainer,
  nodeRoutes,
  nodeSubnets,
  podAddress,
  podAddresses,
  rangeToCidrs,
  resolveConfig,
  shiftPrefix,
  underlayAddress,
  underlayLinkLocal,
} from '../src/index.js';
import { problem } from './problem.js';

const cfg = (file: Record<string, unknown> = {}) => resolveConfig({ env: {}, file }).config;

test("the rule: node i's subnets are the configured ones moved up by (i-1) times their size, v4 and v6, gateways too", () => {
  const c = defaults();
  assert.equal(nodeSubnets(c, 1), {
    subnet4: '192.168.199.0/24',
    gateway4: '192.168.199.1',
    subnet6: 'fde4:8dba:82e1::/64',
    gateway6: 'fde4:8dba:82e1::1',
  });
  assert.equal(nodeSubnets(c, 2), {
    subnet4: '192.168.200.0/24',
    gateway4: '192.168.200.1',
    subnet6: 'fde4:8dba:82e1:1::/64',
    gateway6: 'fde4:8dba:82e1:1::1',
  });
  assert.is(nodeSubnets(c, 3).subnet4, '192.168.201.0/24');
  assert.is(nodeSubnets(c, 3).subnet6, 'fde4:8dba:82e1:2::/64');
  // not only /24 and /64: a /26 and a /120 move by their own sizes
  const odd = { subnet4: '10.1.2.64/26', gateway4: '10.1.2.65', subnet6: 'fd00::100/120', gateway6: 'fd00::101' };
  assert.equal(nodeSubnets(odd, 2), { subnet4: '10.1.2.128/26', gateway4: '10.1.2.129', subnet6: 'fd00::200/120', gateway6: 'fd00::201' });
  assert.is(shiftPrefix('255.255.255.0/24', 1), undefined, 'past the end of the address space');
});

test('the routes a node adds: one v4 and one v6 route to every other node, via its underlay address; N = 1, 2, 3, 50', () => {
  const base = { subnet4: '192.168.199.0/24', gateway4: '192.168.199.1', subnet6: 'fde4:8dba:82e1::/64', gateway6: 'fde4:8dba:82e1::1' };
  const u = '192.168.56.0/24';
  assert.equal(nodeRoutes({ ...base, nodes: 1, underlaySubnet: u }, 1), []);
  assert.equal(nodeRoutes({ ...base, nodes: 2, underlaySubnet: u }, 1), [
    { family: 4, dst: '192.168.200.0/24', via: '192.168.56.12', node: 2 },
    { family: 6, dst: 'fde4:8dba:82e1:1::/64', via: 'fe80::c0a8:380c', node: 2 },
  ]);
  assert.equal(nodeRoutes({ ...base, nodes: 2, underlaySubnet: u }, 2), [
    { family: 4, dst: '192.168.199.0/24', via: '192.168.56.11', node: 1 },
    { family: 6, dst: 'fde4:8dba:82e1::/64', via: 'fe80::c0a8:380b', node: 1 },
  ]);
  assert.equal(
    nodeRoutes({ ...base, nodes: 3, underlaySubnet: u }, 2).map((r) => `${r.dst} via ${r.via}`),
    [
      '192.168.199.0/24 via 192.168.56.11',
      'fde4:8dba:82e1::/64 via fe80::c0a8:380b',
      '192.168.201.0/24 via 192.168.56.13',
      'fde4:8dba:82e1:2::/64 via fe80::c0a8:380d',
    ],
  );
  const fifty = { ...base, nodes: 50, underlaySubnet: u };
  for (const i of [1, 25, 50]) {
    const r = nodeRoutes(fifty, i);
    assert.is(r.length, 98, `node ${i}: 49 other nodes, two families`);
    assert.not.ok(
      r.some((x) => x.node === i),
      'no route to itself',
    );
    assert.is(new Set(r.map((x) => x.dst)).size, 98, 'every destination once');
  }
  assert.equal(nodeRoutes(fifty, 1).at(-2), { family: 4, dst: '192.168.248.0/24', via: '192.168.56.60', node: 50 });
  assert.equal(nodeRoutes(fifty, 50)[1], { family: 6, dst: 'fde4:8dba:82e1::/64', via: 'fe80::c0a8:380b', node: 1 });
  // every node's routes lead exactly to the others' subnets: the full mesh is symmetric
  for (let i = 1; i <= 50; i++) {
    for (const r of nodeRoutes(fifty, i))
      assert.is(r.via === underlayAddress(fifty, r.node) || r.via === underlayLinkLocal(underlayAddress(fifty, r.node)), true);
  }
});

test('underlay addresses: host number 10+i; the IPv6 next hop is the link-local made from it', () => {
  assert.is(underlayAddress({ underlaySubnet: '192.168.56.0/24' }, 1), '192.168.56.11');
  assert.is(underlayAddress({ underlaySubnet: '172.20.8.0/24' }, 50), '172.20.8.60');
  assert.is(underlayLinkLocal('10.0.0.11'), 'fe80::a00:b');
  assert.is(underlayLinkLocal('192.168.56.12'), 'fe80::c0a8:380c');
});

test('container k asks for the k-th address of its node, skipping the gateway', () => {
  assert.is(podAddress('10.0.0.0/24', '10.0.0.1', 1), '10.0.0.2');
  assert.is(podAddress('10.0.0.0/24', '10.0.0.1', 3), '10.0.0.4');
  assert.is(podAddress('10.0.0.0/24', '10.0.0.254', 1), '10.0.0.1', 'a gateway at the end is not in the way');
  assert.is(podAddress('10.0.0.0/24', '10.0.0.3', 3), '10.0.0.4', 'a gateway in the middle is skipped');
  const c = cfg({ nodes: 3 });
  assert.equal(podAddresses(c, 2, 1), {
    ipv4: '192.168.200.2',
    ipv6: 'fde4:8dba:82e1:1::2',
    cidrs: ['192.168.200.2/24', 'fde4:8dba:82e1:1::2/64'],
  });
});

test('how many nodes fit: node N stays in the block of the configured subnets (private range, ULA /48)', () => {
  assert.is(enclosingBlock('192.168.199.0/24'), '192.168.0.0/16');
  assert.is(enclosingBlock('172.20.5.0/24'), '172.16.0.0/12');
  assert.is(enclosingBlock('fde4:8dba:82e1::/64'), 'fde4:8dba:82e1::/48');
  assert.is(enclosingBlock('2001:db8::/64'), '::/0');
  assert.is(maxNodes({ subnet4: '192.168.199.0/24', subnet6: 'fde4:8dba:82e1::/64' }), 57);
  assert.is(maxNodes({ subnet4: '10.0.0.0/16', subnet6: 'fde4:8dba:82e1::/64' }), 256);
  assert.is(maxNodes({ subnet4: '10.0.0.0/24', subnet6: 'fde4:8dba:82e1:ff00::/56' }), 1);
});

test('bad input: nodes 0, negative, too many for the subnets or the underlay; each names the field and the fix', () => {
  for (const n of ['0', '-2']) {
    const e = problem(() => resolveConfig({ env: {}, argv: ['--nodes', n] }));
    assert.is(e.field, 'nodes');
    assert.match(e.message, /not a valid node count: use 1 or more/);
  }
  const many = problem(() => resolveConfig({ env: {}, argv: ['--nodes', '58'] }));
  assert.is(many.field, 'nodes');
  assert.match(many.message, /58 nodes do not fit: node 58 would get 192\.169\.0\.0\/24/);
  assert.match(many.message, /use at most 57 nodes/);
  assert.is(cfg({ nodes: 57 }).nodes, 57);
  const small = problem(() =>
    resolveConfig({ env: {}, file: { nodes: 30, subnet4: '10.0.0.0/24', gateway4: '10.0.0.1', underlaySubnet: '10.9.0.0/27' } }),
  );
  assert.is(small.field, 'nodes');
  assert.match(small.message, /underlay 10\.9\.0\.0\/27 .*use at most 20 nodes/);
  const env = problem(() => resolveConfig({ env: { CNI_DEMO_NODES: '0' } }));
  assert.is(env.field, 'nodes');
});

test('bad input: --nodes with rootless, port mappings or a network file of your own; --node-index out of range', () => {
  const r = problem(() => resolveConfig({ env: {}, argv: ['--nodes', '2', '--rootless'] }));
  assert.is(r.field, 'nodes');
  assert.match(r.message, /cannot run rootless.*--nodes 1 with --rootless/);
  const p = problem(() => resolveConfig({ env: {}, argv: ['--nodes', '2', '--port-map', '8080:80'] }));
  assert.is(p.field, 'nodes');
  assert.match(p.message, /--port-map/);
  const n = problem(() => resolveConfig({ env: {}, argv: ['--nodes', '2', '--netconf', '/etc/cni/net.d/10-mine.conflist'] }));
  assert.is(n.field, 'nodes');
  assert.match(n.message, /do not take --netconf yet.*use --nodes 1 with --netconf/);
  assert.is(resolveConfig({ env: {}, argv: ['--nodes', '1', '--netconf', '/x.conf'] }).config.netconf, '/x.conf', 'one node takes a file');
  const i = problem(() => resolveConfig({ env: {}, argv: ['--nodes', '3', '--node-index', '4'] }));
  assert.is(i.field, 'nodeIndex');
  assert.match(i.message, /use 1 to 3/);
  const one = problem(() => resolveConfig({ env: {}, argv: ['--node-index', '1'] }));
  assert.is(one.field, 'nodeIndex');
});

test('bad input: an underlay overlapping a pod subnet (any node), not IPv4, too small; a veth name too long', () => {
  const e = problem(() => resolveConfig({ env: {}, argv: ['--nodes', '3', '--underlay-subnet', '192.168.201.128/25'] }));
  assert.is(e.field, 'underlaySubnet');
  assert.match(e.message, /overlaps node 3's pod subnet 192\.168\.201\.0\/24/);
  // one node: the underlay is not used, so it may lie anywhere
  assert.is(cfg({ underlaySubnet: '192.168.199.0/24' }).underlaySubnet, '192.168.199.0/24');
  assert.is(problem(() => resolveConfig({ env: {}, argv: ['--underlay-subnet', 'fd00::/64'] })).field, 'underlaySubnet');
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--underlay-subnet', '10.0.0.0/29'] })).message, /too small/);
  const v = problem(() => resolveConfig({ env: {}, argv: ['--nodes', '10', '--underlay-bridge', 'abcdefghijklm'] }));
  assert.is(v.field, 'underlayBridge');
  assert.match(v.message, /abcdefghijklm-10/);
});

test('modes, names and ids: one node is today; netns mode names nodes and containers from the id; a VM is node i', () => {
  assert.is(nodeMode(defaults()), 'single');
  const c = cfg({ id: 'lab', nodes: 2, containers: 2, netnsDir: '/run/x/netns', stateDir: '/run/x/state' });
  assert.is(nodeMode(c), 'netns');
  assert.equal(containerIds(c), ['lab-n1-1', 'lab-n1-2', 'lab-n2-1', 'lab-n2-2']);
  const [n1, n2] = nodeList(c);
  assert.equal(
    { name: n1?.name, pin: n1?.pin, veth: n1?.hostVeth, u4: n1?.underlay4, conf: n1?.confFile },
    {
      name: 'lab-n1',
      pin: '/run/x/netns/lab-n1',
      veth: 'cbr0-ul-1',
      u4: '192.168.198.11',
      conf: '/run/x/state/lab/nodes/lab-n1/net.d/10-connet.conflist',
    },
  );
  assert.is(n2?.subnet4, '192.168.200.0/24');
  assert.is(nodeOfContainer(c, 'lab-n2-1'), 2);
  assert.is(nodeOfContainer(c, 'lab-2'), undefined);
  assert.ok(isNodeNameOf(c, 'lab-n12'));
  assert.not.ok(isNodeNameOf(c, 'lab-n1-1'));
  // one node: ids as today
  assert.equal(containerIds(cfg({ id: 'one', containers: 2 })), ['one-1', 'one-2']);
  const vm = cfg({ nodes: 3, nodeIndex: 2 });
  assert.is(nodeMode(vm), 'vm');
  assert.equal(containerIds(vm), ['demo'], 'a VM runs its containers as one machine does');
  assert.equal(nodeList(vm), []);
  assert.is(localConfig(vm).subnet4, '192.168.200.0/24');
  assert.is(localConfig(vm).gateway6, 'fde4:8dba:82e1:1::1');
});

test("masquerade: a node's pods keep their source towards every pod of the cluster, not beyond it", () => {
  assert.equal(rangeToCidrs(10n, 14n, 4), ['0.0.0.10/31', '0.0.0.12/31']);
  assert.equal(clusterCidrs({ nodes: 3, subnet4: '192.168.199.0/24', subnet6: 'fde4:8dba:82e1::/64' }), {
    4: ['192.168.199.0/24', '192.168.200.0/23'],
    6: ['fde4:8dba:82e1::/63', 'fde4:8dba:82e1:2::/64'],
  });
  assert.equal(clusterCidrs({ nodes: 4, subnet4: '10.0.4.0/24', subnet6: 'fd00::/64' })[4], ['10.0.4.0/22']);
  const rules = nodeMasqRules('lab', 4, '10.0.5.0/24', ['10.0.4.0/22']);
  assert.equal(rules, [
    ['-s', '10.0.5.0/24', '-d', '10.0.4.0/22', '-m', 'comment', '--comment', 'cni-demo id=lab nodes', '-j', 'RETURN'],
    ['-s', '10.0.5.0/24', '!', '-d', '224.0.0.0/4', '-m', 'comment', '--comment', 'cni-demo id=lab nodes', '-j', 'MASQUERADE'],
  ]);
});

test.run();
