import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  dnatMappings,
  masqChainsIn,
  parseAttachmentComment,
  parseRules,
  type Rule,
  recordingExec,
  readChain,
  ruleArg,
  splitRule,
} from '../../src/index.js';
import { NAT4, NAT6 } from './iptables-fixtures.js';

test('parseRules: chains with their policies and every rule, from iptables-save and -S output alike', () => {
  const rs = parseRules(NAT4);
  assert.equal(
    [...rs.chains],
    [
      ['PREROUTING', 'ACCEPT'],
      ['INPUT', 'ACCEPT'],
      ['OUTPUT', 'ACCEPT'],
      ['POSTROUTING', 'ACCEPT'],
      ['CNI-9edd1d169bd00d16c1421008', '-'],
      ['CNI-DN-9edd1d169bd00d16c1421', '-'],
      ['CNI-DN-c2d892b58e87e28a12fe6', '-'],
      ['CNI-HOSTPORT-DNAT', '-'],
      ['CNI-HOSTPORT-MASQ', '-'],
      ['CNI-HOSTPORT-SETMARK', '-'],
      ['CNI-c2d892b58e87e28a12fe6479', '-'],
    ],
  );
  assert.is(rs.rules.length, 22);
  const c1 = rs.rules.find((r) => r.line.startsWith('-A POSTROUTING -s 10.1.0.2/32 ')) as Rule;
  assert.is(c1.chain, 'POSTROUTING');
  assert.is(ruleArg(c1, '--comment'), 'name: "net1" id: "c1"');
  assert.is(ruleArg(c1, '-j'), 'CNI-c2d892b58e87e28a12fe6479');
  const s = parseRules('-P FORWARD DROP\n-N DOCKER-USER\n-A FORWARD -j DOCKER-USER\n');
  assert.is(s.chains.get('FORWARD'), 'DROP');
  assert.is(s.chains.get('DOCKER-USER'), '-');
  assert.equal(s.rules[0]?.args, ['-j', 'DOCKER-USER']);
  assert.is(parseRules('').chains.get('FORWARD'), undefined);
});

test('readChain: one -S listing per call; a tool that cannot list gives nothing', async () => {
  const exec = recordingExec((argv) => (argv[0] === 'iptables' ? { stdout: '-P FORWARD DROP\n' } : { exitCode: 2 }));
  assert.is((await readChain(exec, 'iptables', 'FORWARD'))?.chains.get('FORWARD'), 'DROP');
  assert.is(await readChain(exec, 'ip6tables', 'FORWARD'), undefined);
  assert.equal(exec.calls[0]?.argv, ['iptables', '-w', '-S', 'FORWARD']);
});

test('masqChainsIn: finds the chain of one id exactly, not of an id sharing its prefix, nor portmap’s chains', () => {
  for (const [save, addr] of [
    [NAT4, '10.1.0.2/32'],
    [NAT6, 'fd00:1::2/128'],
  ] as const) {
    const rs = parseRules(save);
    const found = masqChainsIn(rs, 'net1', ['c1']);
    assert.equal(
      found.map((f) => f.chain),
      ['CNI-c2d892b58e87e28a12fe6479'],
    );
    assert.is(found[0]?.jumps.length, 1);
    assert.ok(found[0]?.jumps[0]?.line.includes(addr));
    assert.equal(masqChainsIn(rs, 'net2', ['c1']), [], 'another network with the same id is not ours');
    assert.equal(
      masqChainsIn(rs, 'net1', ['c1', 'c1-2'])
        .map((f) => f.chain)
        .sort(),
      ['CNI-9edd1d169bd00d16c1421008', 'CNI-c2d892b58e87e28a12fe6479'],
    );
  }
});

test('a masquerade chain whose jump carries no comment is still found by its own rules, with its jump', () => {
  const bare = NAT4.split('\n')
    .map((l) => (l.startsWith('-A POSTROUTING -s 10.1.0.2/32') ? '-A POSTROUTING -s 10.1.0.2/32 -j CNI-c2d892b58e87e28a12fe6479' : l))
    .join('\n');
  const found = masqChainsIn(parseRules(bare), 'net1', ['c1']);
  assert.equal(
    found.map((f) => [f.chain, f.jumps.map((j) => j.line)]),
    [['CNI-c2d892b58e87e28a12fe6479', ['-A POSTROUTING -s 10.1.0.2/32 -j CNI-c2d892b58e87e28a12fe6479']]],
  );
});

test("attachment comments: the plugins' own, portmap's with its dnat prefix, nothing else", () => {
  assert.equal(parseAttachmentComment('name: "n" id: "c"'), { network: 'n', id: 'c' });
  assert.equal(parseAttachmentComment('dnat name: "n" id: "c"'), { network: 'n', id: 'c' });
  assert.is(parseAttachmentComment('cni-demo id=x bridge=y'), undefined);
  assert.is(parseAttachmentComment(undefined), undefined);
});

test('splitRule keeps the quoted comment as one argument, unescaped', () => {
  const argv = splitRule('-D POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j CNI-aaa111');
  assert.equal(argv, ['-D', 'POSTROUTING', '-s', '10.1.0.2/32', '-m', 'comment', '--comment', 'name: "net1" id: "c1"', '-j', 'CNI-aaa111']);
});

test('port mappings come from the CNI-DN chains, owners from the CNI-HOSTPORT-DNAT comments', () => {
  const m = (
    protocol: string,
    hostIp: string | undefined,
    hostPort: number,
    containerIp: string,
    containerPort: number,
    id: 'c1' | 'c1-2',
  ) => ({
    protocol,
    hostIp,
    hostPort,
    containerIp,
    containerPort,
    chain: id === 'c1' ? 'CNI-DN-c2d892b58e87e28a12fe6' : 'CNI-DN-9edd1d169bd00d16c1421',
    containerId: id,
  });
  assert.equal(dnatMappings(parseRules(NAT4)), [
    m('udp', undefined, 5353, '10.1.0.3', 53, 'c1-2'),
    m('tcp', undefined, 8080, '10.1.0.2', 80, 'c1'),
    m('tcp', '127.0.0.1', 8443, '10.1.0.2', 443, 'c1'),
  ]);
  // portmap leaves a mapping bound to an IPv4 host address out of ip6tables
  assert.equal(dnatMappings(parseRules(NAT6)), [
    m('udp', undefined, 5353, 'fd00:1::3', 53, 'c1-2'),
    m('tcp', undefined, 8080, 'fd00:1::2', 80, 'c1'),
  ]);
  assert.equal(dnatMappings(parseRules('*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n')), []);
});

test.run();
