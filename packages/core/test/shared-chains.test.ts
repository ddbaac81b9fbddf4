import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { recordingExec, removeSharedChainsWith } from '../src/index.js';

const NAT_AFTER_DEL = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-MASQ - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
COMMIT`;

test('removeSharedChainsWith: jumps, then flush, then delete, for chains the demo made; kept when found before or in use', async () => {
  const run = async (nat: string, before: string[]) => {
    const rec = recordingExec((argv) => (argv[0] === 'iptables-save' && argv.includes('nat') ? { stdout: nat } : { stdout: '' }));
    const removed = await removeSharedChainsWith(rec, before);
    return { removed, calls: rec.calls.map((c) => c.argv).filter((a) => a[0] === 'iptables') };
  };
  const { removed, calls } = await run(NAT_AFTER_DEL, []);
  assert.equal(calls[0], ['iptables', '-t', 'nat', '-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']);
  assert.equal(calls[2], [
    'iptables',
    '-t',
    'nat',
    '-D',
    'POSTROUTING',
    '-m',
    'comment',
    '--comment',
    'CNI portfwd requiring masquerade',
    '-j',
    'CNI-HOSTPORT-MASQ',
  ]);
  assert.ok(calls.findIndex((a) => a.includes('-X')) > calls.findIndex((a) => a.includes('-F')), 'flush before delete');
  assert.equal(
    calls.filter((a) => a.includes('-X')).map((a) => a[4]),
    ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'],
  );
  assert.is(removed.length, 3);
  // found before the demo: left alone
  const kept = await run(NAT_AFTER_DEL, [
    'iptables nat CNI-HOSTPORT-DNAT',
    'iptables nat CNI-HOSTPORT-MASQ',
    'iptables nat CNI-HOSTPORT-SETMARK',
  ]);
  assert.equal(kept.calls, []);
  // another container's mapping still in the chain: left alone
  const busy = await run(
    NAT_AFTER_DEL.replace('COMMIT', '-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 9999 -j CNI-DN-abc\nCOMMIT'),
    [],
  );
  assert.equal(busy.calls, []);
});

test.run();
