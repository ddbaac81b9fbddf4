import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaults, envName, FIELDS, flagName, helpText, resolveConfig, schema, UserError } from '../../src/index.js';
import { problem } from '../problem.js';

test('defaults are the walkthrough values', () => {
  const c = defaults();
  assert.is(c.network, 'connet');
  assert.is(c.bridge, 'cbr0');
  assert.is(c.gateway4, '192.168.199.1');
  assert.is(c.subnet4, '192.168.199.0/24');
  assert.is(c.gateway6, 'fde4:8dba:82e1::1');
  assert.is(c.subnet6, 'fde4:8dba:82e1::/64');
  assert.is(c.cniVersion, '0.4.0');
  assert.is(c.id, 'demo');
  assert.is(c.ifname, 'eth0');
  assert.ok(c.ipMasq && c.isGateway);
});

test('names are derived from field names; the help lists every field with its flag and env name', () => {
  assert.is(flagName('pluginDirs'), 'plugin-dirs');
  assert.is(envName('pluginDirs'), 'CNI_DEMO_PLUGIN_DIRS');
  const help = helpText();
  for (const f of FIELDS) {
    assert.ok(help.includes(`--${flagName(f)} `), `--${flagName(f)} in the help`);
    assert.ok(help.includes(envName(f)), `${envName(f)} in the help`);
    assert.ok(schema[f].help.length > 0, `${f} has a help text`);
  }
});

test('field checks: invalid CIDR, gateway outside subnet, long bridge name, bad container id, version, count', () => {
  const msg = (argv: string[]) => problem(() => resolveConfig({ env: {}, argv })).message;
  assert.match(msg(['--subnet4', '10.0.0.0/33']), /subnet4: "10.0.0.0\/33" is not an IPv4 CIDR/);
  assert.match(msg(['--subnet6', '10.0.0.0/24']), /subnet6/);
  assert.match(msg(['--gateway4', '10.9.9.9']), /gateway4: "10.9.9.9" is not an IPv4 address inside subnet4/);
  assert.match(msg(['--bridge', 'averyveryverylongname']), /bridge: .*at most 15/);
  assert.match(msg(['--id', '-bad id']), /id: "-bad id" is not a valid container id/);
  assert.match(msg(['--cni-version', '9.9.9']), /cniVersion/);
  assert.match(msg(['--containers', 'many']), /--containers: "many" is not a whole number/);
});

test("timers: past Node's limit (2^31-1 ms) refused, as it would fire at once; lock wait 0 still means refuse at once", () => {
  const msg = (argv: string[]) => problem(() => resolveConfig({ env: {}, argv })).message;
  assert.match(
    msg(['--plugin-timeout-ms', '3000000000']),
    /pluginTimeoutMs: 3000000000 is longer than Node's timer limit: use at most 2147483647/,
  );
  assert.match(
    msg(['--plugin-timeout-ms', '-5']),
    /pluginTimeoutMs: -5 is not a timeout: use a whole number of milliseconds from 1 to 2147483647/,
  );
  assert.match(msg(['--lock-wait-ms', '2147483648']), /lockWaitMs: .*at most 2147483647/);
  assert.match(msg(['--pull-timeout-ms', '9999999999']), /pullTimeoutMs: .*at most 2147483647/);
  assert.is(resolveConfig({ env: {}, argv: ['--lock-wait-ms', '0'] }).config.lockWaitMs, 0);
  assert.is(resolveConfig({ env: {}, argv: ['--plugin-timeout-ms', '2147483647'] }).config.pluginTimeoutMs, 2147483647);
});

test('pluginTimeoutMs takes what the CNI runtime takes (1 to 2^31-1 whole ms) from flags, env and the file, and nothing else', () => {
  const fail = (input: Parameters<typeof resolveConfig>[0]) => problem(() => resolveConfig({ env: {}, ...input }));
  for (const bad of ['0', '-1', '2147483648', '3000000000']) {
    for (const input of [
      { argv: ['--plugin-timeout-ms', bad] },
      { env: { CNI_DEMO_PLUGIN_TIMEOUT_MS: bad } },
      { file: { pluginTimeoutMs: Number(bad) } },
    ]) {
      const e = fail(input);
      assert.is(e.field, 'pluginTimeoutMs', `${bad} via ${Object.keys(input)[0]}`);
      assert.match(e.message, /pluginTimeoutMs/);
      assert.match(e.message, new RegExp(bad));
    }
  }
  // fractional: not a whole number, wherever it comes from; the message names where
  for (const [input, where] of [
    [{ argv: ['--plugin-timeout-ms', '1.5'] }, /--plugin-timeout-ms: "1.5" is not a whole number/],
    [{ env: { CNI_DEMO_PLUGIN_TIMEOUT_MS: '2.5' } }, /CNI_DEMO_PLUGIN_TIMEOUT_MS: "2.5" is not a whole number/],
    [{ file: { pluginTimeoutMs: 1.5 } }, /"pluginTimeoutMs": expected a whole number, got 1.5/],
  ] as const) {
    const e = fail(input);
    assert.is(e.field, 'pluginTimeoutMs');
    assert.match(e.message, where);
  }
  for (const good of [1, 100, 30000, 2147483647]) {
    assert.is(resolveConfig({ env: {}, argv: ['--plugin-timeout-ms', String(good)] }).config.pluginTimeoutMs, good);
    assert.is(resolveConfig({ env: {}, file: { pluginTimeoutMs: good } }).config.pluginTimeoutMs, good);
  }
  assert.is(schema.pluginTimeoutMs.min, 1);
  assert.is(schema.pluginTimeoutMs.max, 2147483647);
});

test('container log cap: 10 MiB by default, at least 64 KiB', () => {
  assert.is(defaults().containerLogMaxBytes, 10 * 1024 * 1024);
  assert.match(
    problem(() => resolveConfig({ env: {}, argv: ['--container-log-max-bytes', '1000'] })).message,
    /containerLogMaxBytes: 1000 is too small/,
  );
});

test('rootless mode with many containers is refused by its one rule, before anything runs', () => {
  const e = problem(() => resolveConfig({ env: {}, argv: ['--rootless', '--containers', '3'] }));
  assert.is(e.field, 'rootless');
  assert.match(e.message, /rootless: runs one container, not 3/);
  assert.ok(resolveConfig({ env: {}, argv: ['--rootless', '--containers', '1'] }).config.rootless);
});

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

test('containers: 0, negative and above capacity are refused naming the field', () => {
  for (const n of ['0', '-3']) {
    const e = problem(() => resolveConfig({ env: {}, argv: ['--containers', n] }));
    assert.is(e.field, 'containers');
    assert.match(e.message, /use 1 or more/);
  }
  const e = problem(() => resolveConfig({ env: {}, argv: ['--containers', '254', '--subnet4', '10.9.0.0/24', '--gateway4', '10.9.0.1'] }));
  assert.is(e.field, 'containers');
  assert.match(e.message, /hold 253/);
  assert.is(resolveConfig({ env: {}, argv: ['--containers', '253'] }).config.containers, 253);
  const big = resolveConfig({ env: {}, file: { containers: 1000, subnet4: '10.9.0.0/22', gateway4: '10.9.0.1' } });
  assert.is(big.config.containers, 1000);
});

test.run();
