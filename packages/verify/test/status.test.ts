import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { statusMain } from '../src/status.js';

test('status: a bad option is refused with exit code 2 (usage) before anything is read', async () => {
  const saved = process.exitCode;
  assert.is(await statusMain(['--subnet4', 'not-a-cidr']), 2);
  assert.is(await statusMain(['--no-such-flag']), 2);
  process.exitCode = saved;
});

test.run();
