import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig, UserErrors } from '../../src/index.js';
import { problem } from '../problem.js';

test('precedence: defaults < file < env < flags', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  const file = path.join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ bridge: 'fromfile', network: 'filenet', id: 'fileid' }));
  const { config } = resolveConfig({
    argv: ['--config', file, '--bridge', 'fromflag'],
    env: { CNI_DEMO_BRIDGE: 'fromenv', CNI_DEMO_NETWORK: 'envnet' },
  });
  assert.is(config.bridge, 'fromflag');
  assert.is(config.network, 'envnet');
  assert.is(config.id, 'fileid');
});

test('a gateway nobody set follows its subnet; a gateway that was set is kept and checked', () => {
  // only the subnets: the gateways are their first addresses, not the default network's
  const only = resolveConfig({ argv: ['--subnet4', '10.9.8.0/24', '--subnet6', 'fd00:9:8::/64'] }).config;
  assert.is(only.gateway4, '10.9.8.1');
  assert.is(only.gateway6, 'fd00:9:8::1');
  // from the environment and the config file too, host bits in the subnet ignored
  const env = resolveConfig({ env: { CNI_DEMO_SUBNET4: '10.7.0.9/16' }, file: { subnet6: 'fd00:7::/48' } }).config;
  assert.is(env.gateway4, '10.7.0.1');
  assert.is(env.gateway6, 'fd00:7::1');
  // untouched: the defaults
  const none = resolveConfig({}).config;
  assert.is(none.gateway4, '192.168.199.1');
  assert.is(none.gateway6, 'fde4:8dba:82e1::1');
  // set explicitly: kept, and still refused outside its subnet
  assert.is(resolveConfig({ argv: ['--subnet4', '10.9.8.0/24', '--gateway4', '10.9.8.254'] }).config.gateway4, '10.9.8.254');
  assert.throws(
    () => resolveConfig({ argv: ['--subnet4', '10.9.8.0/24', '--gateway4', '10.9.9.1'] }),
    (e: Error) => /gateway4: "10\.9\.9\.1" is not an IPv4 address inside subnet4 10\.9\.8\.0\/24/.test(e.message),
  );
});

test("netconf and plugin dirs may be relative: to the config file's folder there, to the current folder elsewhere", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  const file = path.join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ netconf: 'nets/my.conflist', pluginDirs: ['./bin', '/usr/lib/cni'] }));
  const fromFile = resolveConfig({ env: {}, argv: ['--config', file] }).config;
  assert.is(fromFile.netconf, path.join(dir, 'nets/my.conflist'));
  assert.equal(fromFile.pluginDirs, [path.join(dir, 'bin'), '/usr/lib/cni']);
  const fromFlags = resolveConfig({ env: {}, argv: ['--netconf', './my.conflist', '--plugin-dirs', './bin:/usr/lib/cni'] }).config;
  assert.is(fromFlags.netconf, path.join(process.cwd(), 'my.conflist'));
  assert.equal(fromFlags.pluginDirs, [path.join(process.cwd(), 'bin'), '/usr/lib/cni']);
  const fromEnv = resolveConfig({ env: { CNI_DEMO_NETCONF: 'x.conf' } }).config;
  assert.is(fromEnv.netconf, path.join(process.cwd(), 'x.conf'));
  // other paths stay absolute-only
  assert.match(
    problem(() => resolveConfig({ env: {}, argv: ['--conf-dir', 'etc/cni'] })).message,
    /confDir: "etc\/cni" must be an absolute path/,
  );
  assert.is(resolveConfig({ env: {} }).config.netconf, '', 'no netconf: the generated network');
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--master-veth'] })).message, /masterVeth: only applies with --netconf/);
  // the generated subnets do not bound --containers when the file's IPAM hands the addresses out
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--containers', '500'] })).message, /500 containers do not fit/);
  assert.is(resolveConfig({ env: {}, argv: ['--containers', '500', '--netconf', '/n.conflist'] }).config.containers, 500);
});

test('unknown config key names the key and suggests the right one', () => {
  const e = problem(() => resolveConfig({ env: {}, file: { bridg: 'x' } }));
  assert.match(e.message, /unknown key "bridg"/);
  assert.match(e.hint ?? '', /bridge/);
});

test('unknown flag and unknown env variable are refused', () => {
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--subnet'] })).message, /unknown option --subnet/);
  const e = problem(() => resolveConfig({ env: { CNI_DEMO_BRIGDE: 'x' } }));
  assert.match(e.message, /CNI_DEMO_BRIGDE/);
  assert.match(e.hint ?? '', /CNI_DEMO_BRIDGE/);
});

test('plain arguments are refused unless the command takes them; a stray "false" after a switch says how to write it', () => {
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--ip-masq', 'maybe'] })).message, /unexpected argument "maybe"/);
  const e = problem(() => resolveConfig({ env: {}, argv: ['--ip-masq', 'false'] }));
  assert.match(e.message, /unexpected argument "false"/);
  assert.match(e.hint ?? '', /--<switch>=false or --no-<switch>/);
  const ok = resolveConfig({ env: {}, argv: ['--id', 'x', '--', 'ip', '-j', 'addr'], allowPositionals: true });
  assert.equal(ok.args.positionals, ['ip', '-j', 'addr']);
  assert.is(ok.config.id, 'x');
});

test('several problems are reported at once, each naming its field', () => {
  const e = problem(() => resolveConfig({ env: {}, file: { bridge: 'x'.repeat(20), subnet4: 'nope' } }));
  assert.instance(e, UserErrors);
  assert.is((e as UserErrors).problems.length, 2);
  assert.match(e.message, /bridge/);
  assert.match(e.message, /subnet4/);
});

test('config file problems: unreadable, bad JSON, wrong types', () => {
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--config', '/nonexistent/x.json'] })).message, /cannot be read/);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, '{"bridge": "x",}');
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--config', bad] })).message, /not valid JSON/);
  assert.match(problem(() => resolveConfig({ env: {}, file: { ipMasq: 'yes' } })).message, /"ipMasq": expected true or false/);
  assert.match(problem(() => resolveConfig({ env: {}, file: { containers: 1.5 } })).message, /whole number/);
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--config'] })).message, /--config needs a file path/);
});

test.run();
