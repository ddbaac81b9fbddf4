import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig, UserError } from '../src/index.js';
import { lookupUser, rootlessUser } from '../src/rootless.js';

test('image fields: flags, env and their checks', () => {
  const d = `sha256:${'b'.repeat(64)}`;
  const { config } = resolveConfig({
    env: { CNI_DEMO_ROOTLESS: 'true' },
    argv: ['--image-digest', d, '--no-registry-tls-verify', '--cmd', 'sleep 1', '--rootless-user', 'nobody', '--pull-timeout-ms', '5000'],
  });
  assert.is(config.imageDigest, d);
  assert.is(config.registryTlsVerify, false);
  assert.is(config.cmd, 'sleep 1');
  assert.is(config.rootless, true);
  assert.is(config.rootlessUser, 'nobody');
  assert.is(config.pullTimeoutMs, 5000);
  const defaults = resolveConfig({ env: {} }).config;
  assert.is(defaults.registryTlsVerify, true, 'TLS verification is on by default');
  assert.is(defaults.rootless, false);
  assert.throws(
    () => resolveConfig({ env: {}, argv: ['--image-digest', 'sha256:abc'] }),
    (e: unknown) => e instanceof UserError && e.field === 'imageDigest',
  );
});

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
