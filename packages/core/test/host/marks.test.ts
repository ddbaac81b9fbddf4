import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeMark, forwardComment, forwardRules, isMarkedBridge, masqComment, parseAttachmentComment } from '../../src/index.js';

test('marks are derived from the instance: the bridge alias, the FORWARD fix comment and rules', () => {
  assert.is(bridgeMark('demo'), 'cni-demo:demo');
  assert.is(forwardComment('demo', 'br1'), 'cni-demo id=demo bridge=br1');
  assert.equal(forwardRules('demo', 'br1'), [
    ['-i', 'br1', '-m', 'comment', '--comment', 'cni-demo id=demo bridge=br1', '-j', 'ACCEPT'],
    ['-o', 'br1', '-m', 'comment', '--comment', 'cni-demo id=demo bridge=br1', '-j', 'ACCEPT'],
  ]);
  // lo exists everywhere and carries no mark of ours
  assert.not.ok(isMarkedBridge('lo', 'demo'));
  assert.not.ok(isMarkedBridge('ar0nolink', 'demo'));
});

test("the plugins' attachment comment, as the bridge plugin writes it on its masquerade rules, reads back", () => {
  // the bridge plugin's own comment (iptables-save prints it as --comment "name: \"net1\" id: \"c1\"")
  assert.is(masqComment('net1', 'c1'), 'name: "net1" id: "c1"');
  assert.equal(parseAttachmentComment('name: "net1" id: "c1"'), { network: 'net1', id: 'c1' });
  // portmap's, on its CNI-HOSTPORT-DNAT jumps
  assert.equal(parseAttachmentComment('dnat name: "net1" id: "c1"'), { network: 'net1', id: 'c1' });
});

test.run();
