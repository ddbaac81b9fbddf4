import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quoteArgv } from '../src/index.js';

test('quoting makes pasteable commands', () => {
  assert.is(quoteArgv(['ip', 'addr', 'add', '10.0.0.1/24']), 'ip addr add 10.0.0.1/24');
  assert.is(quoteArgv(['sh', '-c', "it's"]), `sh -c 'it'\\''s'`);
  assert.is(quoteArgv(['']), "''");
});

test.run();
