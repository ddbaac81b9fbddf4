import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { recordingExec, removeMasqChains } from '../src/index.js';
import { SAVE } from './host/iptables-fixtures.js';

test('removeMasqChains: deletes the jump, flushes and deletes the chain, in both tools', async () => {
  let removed = false;
  const exec = recordingExec((argv) => {
    if (argv[0]?.endsWith('-save')) return { stdout: removed ? '' : SAVE };
    if (argv.includes('-X') && argv[0] === 'ip6tables') removed = true;
    return undefined;
  });
  const out = await removeMasqChains(exec, 'net1', ['c1']);
  assert.equal(
    out.map((c) => `${c.tool}:${c.chain}`),
    ['iptables:CNI-aaa111', 'ip6tables:CNI-aaa111'],
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
      'CNI-aaa111',
    ],
    ['-w', '-t', 'nat', '-F', 'CNI-aaa111'],
    ['-w', '-t', 'nat', '-X', 'CNI-aaa111'],
  ]);
});

test.run();
