import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../src/index.js';

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
