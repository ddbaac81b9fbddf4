import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { recordingExec, removeMasqChains } from '../src/index.js';
import { NAT4, NAT6 } from './host/iptables-fixtures.js';

test('removeMasqChains: deletes the jump, flushes and deletes the chain, in both tools', async () => {
  let removed = false;
  const exec = recordingExec((argv) => {
    if (argv[0]?.endsWith('-save')) return { stdout: removed ? '' : argv[0] === 'iptables-save' ? NAT4 : NAT6 };
    if (argv.includes('-X') && argv[0] === 'ip6tables') removed = true;
    return undefined;
  });
  const out = await removeMasqChains(exec, 'net1', ['c1']);
  assert.equal(
    out.map((c) => `${c.tool}:${c.chain}`),
    ['iptables:CNI-c2d892b58e87e28a12fe6479', 'ip6tables:CNI-c2d892b58e87e28a12fe6479'],
  );
  const v4 = exec.calls.filter((c) => c.argv[0] === 'iptables').map((c) => c.argv.slice(1));
  assert.equal(v4, [
    [
      '-w',
      '-t',
      'nat',
      '-D',
      'POSTROUTING',
      '-s',
      '10.1.0.2/32',
      '-m',
      'comment',
      '--comment',
      'name: "net1" id: "c1"',
      '-j',
      'CNI-c2d892b58e87e28a12fe6479',
    ],
    ['-w', '-t', 'nat', '-F', 'CNI-c2d892b58e87e28a12fe6479'],
    ['-w', '-t', 'nat', '-X', 'CNI-c2d892b58e87e28a12fe6479'],
  ]);
});

test.run();
