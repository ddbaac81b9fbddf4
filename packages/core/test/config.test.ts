import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaults, envName, flagName, resolveConfig, UserErrors } from '../src/index.js';
import { problem } from './problem.js';

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

test('flag forms: --k v, --k=v, --flag, --no-flag, lists', () => {
  const { config } = resolveConfig({
    env: {},
    argv: ['--id=x1', '--ifname', 'eth1', '--no-ip-masq', '--verbose', '--plugin-dirs', '/a:/b', '--containers', '3'],
  });
  assert.is(config.id, 'x1');
  assert.is(config.ifname, 'eth1');
  assert.is(config.ipMasq, false);
  assert.is(config.verbose, true);
  assert.equal(config.pluginDirs, ['/a', '/b']);
  assert.is(config.containers, 3);
});

test('names are derived from field names', () => {
  assert.is(flagName('pluginDirs'), 'plugin-dirs');
  assert.is(envName('pluginDirs'), 'CNI_DEMO_PLUGIN_DIRS');
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

test('invalid CIDR, gateway outside subnet, long bridge name, bad container id', () => {
  assert.match(
    problem(() => resolveConfig({ env: {}, argv: ['--subnet4', '10.0.0.0/33'] })).message,
    /subnet4: "10.0.0.0\/33" is not an IPv4 CIDR/,
  );
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--subnet6', '10.0.0.0/24'] })).message, /subnet6/);
  assert.match(
    problem(() => resolveConfig({ env: {}, argv: ['--gateway4', '10.9.9.9'] })).message,
    /gateway4: "10.9.9.9" is not an IPv4 address inside subnet4/,
  );
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--bridge', 'averyveryverylongname'] })).message, /bridge: .*at most 15/);
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--id', '-bad id'] })).message, /id: "-bad id" is not a valid container id/);
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--cni-version', '9.9.9'] })).message, /cniVersion/);
  assert.match(
    problem(() => resolveConfig({ env: {}, argv: ['--containers', 'many'] })).message,
    /--containers: "many" is not a whole number/,
  );
  assert.match(problem(() => resolveConfig({ env: {}, argv: ['--ip-masq', 'maybe'] })).message, /unexpected argument "maybe"/);
});

test('rootless mode with many containers is refused before anything runs', () => {
  const e = problem(() => resolveConfig({ env: {}, argv: ['--rootless', '--containers', '3'] }));
  assert.is(e.field, 'rootless');
  assert.match(e.message, /rootless: runs one container, not 3/);
  assert.ok(resolveConfig({ env: {}, argv: ['--rootless', '--containers', '1'] }).config.rootless);
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
