import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqComment, parseMasqChains, recordingExec, removeMasqChains, resolveConfig, splitRule } from '../src/index.js';

// what iptables-save -t nat prints after the bridge plugin's ipMasq for two containers of one network
const SAVE = `*nat
:POSTROUTING ACCEPT [0:0]
:CNI-aaa111 - [0:0]
:CNI-bbb222 - [0:0]
-A POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j CNI-aaa111
-A POSTROUTING -s 10.1.0.3/32 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j CNI-bbb222
-A CNI-aaa111 -d 10.1.0.0/24 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j ACCEPT
-A CNI-aaa111 ! -d 224.0.0.0/4 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j MASQUERADE
-A CNI-bbb222 ! -d 224.0.0.0/4 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j MASQUERADE
COMMIT
`;

test('parseMasqChains: finds the chain of one id exactly, not of an id sharing its prefix', () => {
  const found = parseMasqChains(SAVE, 'net1', ['c1']);
  assert.equal(
    found.map((f) => f.chain),
    ['CNI-aaa111'],
  );
  assert.is(found[0]?.jumps.length, 1);
  assert.ok(found[0]?.jumps[0]?.includes('10.1.0.2/32'));
  assert.equal(parseMasqChains(SAVE, 'net2', ['c1']), [], 'another network with the same id is not ours');
  assert.equal(
    parseMasqChains(SAVE, 'net1', ['c1', 'c1-2'])
      .map((f) => f.chain)
      .sort(),
    ['CNI-aaa111', 'CNI-bbb222'],
  );
});

test('splitRule keeps the quoted comment as one argument, unescaped', () => {
  const argv = splitRule('-D POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j CNI-aaa111');
  assert.equal(argv, [
    '-D',
    'POSTROUTING',
    '-s',
    '10.1.0.2/32',
    '-m',
    'comment',
    '--comment',
    masqComment('net1', 'c1'),
    '-j',
    'CNI-aaa111',
  ]);
});

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

// the fault hook must kill for real (SIGKILL: no exit handlers) and only at the named point
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'src', 'fault.js');
const run = (at: string) =>
  spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { faultPoint } from '${ROOT}'; faultPoint('a'); faultPoint('b'); process.stdout.write('reached end');`,
    ],
    {
      env: { ...process.env, CNI_FAULT_AT: at },
      encoding: 'utf8',
    },
  );

test('faultPoint: SIGKILLs at the named point, passes elsewhere', () => {
  const killed = run('b');
  assert.is(killed.signal, 'SIGKILL');
  assert.is(killed.stdout, '');
  const other = run('c');
  assert.is(other.status, 0);
  assert.is(other.stdout, 'reached end');
});

test('faultPoint: name@ms arms a timer instead of killing on the spot', () => {
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { faultPoint } from '${ROOT}'; faultPoint('a'); process.stdout.write('armed'); setTimeout(() => process.stdout.write(' survived'), 2000);`,
    ],
    { env: { ...process.env, CNI_FAULT_AT: 'a@50' }, encoding: 'utf8' },
  );
  assert.is(r.signal, 'SIGKILL');
  assert.is(r.stdout, 'armed');
});

test('CNI_FAULT_AT is not taken for an unknown CNI_DEMO_ setting', () => {
  assert.not.throws(() => resolveConfig({ env: { CNI_FAULT_AT: 'x' } }));
  assert.throws(() => resolveConfig({ env: { CNI_DEMO_FAULT_AT: 'x' } }), /CNI_DEMO_FAULT_AT/);
});

test.run();
