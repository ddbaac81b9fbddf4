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
import { DNAT_SAVE, SAVE } from './iptables-fixtures.js';

test('parseRules: chains with their policies and every rule, from iptables-save and -S output alike', () => {
  const rs = parseRules(SAVE);
  assert.equal(
    [...rs.chains],
    [
      ['POSTROUTING', 'ACCEPT'],
      ['CNI-aaa111', '-'],
      ['CNI-bbb222', '-'],
    ],
  );
  assert.is(rs.rules.length, 5);
  const first = rs.rules[0] as Rule;
  assert.is(first.chain, 'POSTROUTING');
  assert.is(ruleArg(first, '--comment'), 'name: "net1" id: "c1"');
  assert.is(ruleArg(first, '-j'), 'CNI-aaa111');
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

test('masqChainsIn: finds the chain of one id exactly, not of an id sharing its prefix', () => {
  const rs = parseRules(SAVE);
  const found = masqChainsIn(rs, 'net1', ['c1']);
  assert.equal(
    found.map((f) => f.chain),
    ['CNI-aaa111'],
  );
  assert.is(found[0]?.jumps.length, 1);
  assert.ok(found[0]?.jumps[0]?.line.includes('10.1.0.2/32'));
  assert.equal(masqChainsIn(rs, 'net2', ['c1']), [], 'another network with the same id is not ours');
  assert.equal(
    masqChainsIn(rs, 'net1', ['c1', 'c1-2'])
      .map((f) => f.chain)
      .sort(),
    ['CNI-aaa111', 'CNI-bbb222'],
  );
});

test('a masquerade chain whose jump carries no comment is still found by its own rules, with its jump', () => {
  const bare = SAVE.split('\n')
    .map((l) => (l.startsWith('-A POSTROUTING -s 10.1.0.2/32') ? '-A POSTROUTING -s 10.1.0.2/32 -j CNI-aaa111' : l))
    .join('\n');
  const found = masqChainsIn(parseRules(bare), 'net1', ['c1']);
  assert.equal(
    found.map((f) => [f.chain, f.jumps.map((j) => j.line)]),
    [['CNI-aaa111', ['-A POSTROUTING -s 10.1.0.2/32 -j CNI-aaa111']]],
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
  assert.equal(dnatMappings(parseRules(DNAT_SAVE)), [
    {
      protocol: 'tcp',
      hostIp: undefined,
      hostPort: 8080,
      containerIp: '10.88.0.2',
      containerPort: 80,
      chain: 'CNI-DN-1b2c3d4e5f60718293a4b5c6',
      containerId: 't-abc',
    },
    {
      protocol: 'tcp',
      hostIp: '127.0.0.1',
      hostPort: 8443,
      containerIp: '10.88.0.2',
      containerPort: 443,
      chain: 'CNI-DN-1b2c3d4e5f60718293a4b5c6',
      containerId: 't-abc',
    },
    {
      protocol: 'udp',
      hostIp: undefined,
      hostPort: 5353,
      containerIp: 'fd00::5',
      containerPort: 53,
      chain: 'CNI-DN-aaaabbbbccccddddeeeeffff',
      containerId: 't-def',
    },
  ]);
  assert.equal(dnatMappings(parseRules('*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n')), []);
});

test.run();
