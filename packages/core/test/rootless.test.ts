import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig, UserError } from '../src/index.js';
import { lookupUser, rootlessUser } from '../src/rootless.js';

test('rootless user: named, from SUDO_USER, never root, must exist', () => {
  const base = resolveConfig({ env: {} }).config;
  assert.is(lookupUser('root')?.uid, 0);
  assert.is(rootlessUser({ ...base, rootlessUser: 'nobody' }, {}).name, 'nobody');
  assert.is(rootlessUser(base, { SUDO_USER: 'nobody' }).name, 'nobody');
  for (const [cfg, env] of [
    [{ ...base }, {}],
    [{ ...base, rootlessUser: 'root' }, {}],
    [{ ...base, rootlessUser: 't4-no-such-user' }, {}],
  ] as const) {
    assert.throws(
      () => rootlessUser(cfg, env),
      (e: unknown) => e instanceof UserError && e.field === 'rootlessUser',
    );
  }
});

test.run();
