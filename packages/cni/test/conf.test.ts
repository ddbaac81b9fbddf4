import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CniError,
  ConfigError,
  confFromBytes,
  confFromFile,
  confListFromBytes,
  confListFromConfBytes,
  loadConfList,
} from '../src/index.js';

const list = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name: 'n1', cniVersion: '1.0.0', plugins: [{ type: 'bridge' }], ...extra });

function configError(fn: () => unknown, field: string | undefined, re: RegExp, source = 'f.conflist'): void {
  try {
    fn();
    assert.unreachable('expected a ConfigError');
  } catch (e) {
    assert.instance(e, ConfigError, String(e));
    const ce = e as ConfigError;
    assert.is(ce.field, field);
    assert.is(ce.source, source);
    assert.is(ce.code, 7);
    assert.match(ce.message, re);
    assert.ok(ce.message.includes(source), 'message names the file');
  }
}

test('conflist: parsed with flags, version and the exact bytes kept', () => {
  const text = list({ disableCheck: 'TRUE', disableGC: false });
  const l = confListFromBytes(text, 'f.conflist');
  assert.is(l.name, 'n1');
  assert.is(l.cniVersion, '1.0.0');
  assert.is(l.disableCheck, true);
  assert.is(l.disableGC, false);
  assert.equal(l.plugins, [{ type: 'bridge' }]);
  assert.is(Buffer.from(l.bytes).toString(), text);
});

test('conflist: bad input names the file and the field', () => {
  configError(() => confListFromBytes('{"name": "x",', 'f.conflist'), undefined, /not valid JSON/);
  configError(() => confListFromBytes(list({ name: '' }), 'f.conflist'), 'name', /missing network name/);
  configError(() => confListFromBytes(list({ name: 'bad name' }), 'f.conflist'), 'name', /invalid characters/);
  configError(() => confListFromBytes(list({ plugins: [] }), 'f.conflist'), 'plugins', /empty/);
  configError(() => confListFromBytes(list({ plugins: [{ type: 'a' }, {}] }), 'f.conflist'), 'plugins[1].type', /missing 'type'/);
  configError(() => confListFromBytes(list({ plugins: [{ type: '' }] }), 'f.conflist'), 'plugins[0].type', /missing 'type'/);
  configError(() => confListFromBytes(list({ plugins: [{ type: '../bin/sh' }] }), 'f.conflist'), 'plugins[0].type', /not a path/);
  configError(() => confListFromBytes(list({ disableCheck: 'yes' }), 'f.conflist'), 'disableCheck', /true or false/);
  configError(() => confListFromBytes(list({ disableGC: 1 }), 'f.conflist'), 'disableGC', /true or false/);
  configError(() => confListFromBytes(list({ cniVersion: '0.5.0' }), 'f.conflist'), 'cniVersion', /unknown CNI spec version "0.5.0"/);
  configError(() => confListFromBytes(list({ cniVersion: 'one' }), 'f.conflist'), 'cniVersion', /not a version/);
  configError(() => confListFromBytes(list({ cniVersion: '2.0.0' }), 'f.conflist'), 'cniVersion', /no version this runtime supports/);
  configError(() => confListFromBytes(list({ cniVersions: ['1.0.0', 'x'] }), 'f.conflist'), 'cniVersions', /not a version/);
});

test('version selection: highest of cniVersion + cniVersions not newer than 1.1.0', () => {
  assert.is(confListFromBytes(list({ cniVersion: '0.4.0', cniVersions: ['1.0.0', '1.1.0', '3.0.0'] })).cniVersion, '1.1.0');
  assert.is(confListFromBytes(list({ cniVersion: '1.0.0', cniVersions: ['0.3.1'] })).cniVersion, '1.0.0');
  assert.equal(confListFromBytes(list({ cniVersion: undefined, cniVersions: ['0.4.0', '1.0.0'] })).cniVersions, ['0.4.0', '1.0.0']);
  assert.is(confListFromBytes(JSON.stringify({ name: 'n', plugins: [{ type: 'x' }] })).cniVersion, '');
});

test('single-plugin .conf is wrapped into a one-element list', () => {
  const l = confListFromConfBytes(JSON.stringify({ name: 'n2', cniVersion: '0.4.0', type: 'bridge', bridge: 'b0' }), 'x.conf');
  assert.is(l.name, 'n2');
  assert.is(l.cniVersion, '0.4.0');
  assert.is(l.plugins.length, 1);
  assert.is(l.plugins[0]?.type, 'bridge');
  assert.is(l.plugins[0]?.bridge, 'b0');
  const wrapped = JSON.parse(Buffer.from(l.bytes).toString()) as { plugins: unknown[] };
  assert.is(wrapped.plugins.length, 1);
  assert.is(confFromBytes(list(), 'y').plugins[0]?.type, 'bridge');
  configError(
    () => confListFromConfBytes(JSON.stringify({ name: 'n2', cniVersion: '1.0.0' }), 'x.conf'),
    '(plugin).type',
    /missing 'type'/,
    'x.conf',
  );
});

test('one file: read by its extension as libcni does; an unreadable file is named with the reason', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cni-file-'));
  try {
    const single = JSON.stringify({ name: 'n3', cniVersion: '0.4.0', type: 'bridge', plugins: 'ignored' });
    for (const f of ['a.conf', 'a.json']) {
      writeFileSync(path.join(dir, f), single);
      const l = confFromFile(path.join(dir, f));
      assert.is(l.plugins[0]?.type, 'bridge', `${f} is a single-plugin file whatever keys it has`);
      assert.is(l.source, path.join(dir, f));
    }
    writeFileSync(path.join(dir, 'b.conflist'), JSON.stringify({ name: 'n4', cniVersion: '1.0.0', type: 'bridge' }));
    configError(() => confFromFile(path.join(dir, 'b.conflist')), 'plugins', /needs a "plugins" array/, path.join(dir, 'b.conflist'));
    writeFileSync(path.join(dir, 'c.txt'), list());
    assert.is(confFromFile(path.join(dir, 'c.txt')).name, 'n1', 'another name is read by its shape');
    writeFileSync(path.join(dir, 'd.conf'), JSON.stringify({ name: 'n5', cniVersion: '1.0.0' }));
    configError(() => confFromFile(path.join(dir, 'd.conf')), '(plugin).type', /missing 'type'/, path.join(dir, 'd.conf'));
    configError(() => confFromFile(path.join(dir, 'none.conf')), undefined, /does not exist/, path.join(dir, 'none.conf'));
    mkdirSync(path.join(dir, 'e.conf'));
    configError(() => confFromFile(path.join(dir, 'e.conf')), undefined, /is a folder/, path.join(dir, 'e.conf'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('directory lookup: conflists first in lexical order, then .conf/.json; errors name the dir', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cni-conf-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, '20-b.conflist'), JSON.stringify({ name: 'same', cniVersion: '1.0.0', plugins: [{ type: 'second' }] }));
  writeFileSync(path.join(dir, '10-a.conflist'), JSON.stringify({ name: 'same', cniVersion: '1.0.0', plugins: [{ type: 'first' }] }));
  writeFileSync(path.join(dir, '05-c.conf'), JSON.stringify({ name: 'same', cniVersion: '1.0.0', type: 'single' }));
  writeFileSync(path.join(dir, '06-d.json'), JSON.stringify({ name: 'only-json', cniVersion: '0.3.1', type: 'j' }));
  writeFileSync(path.join(dir, 'ignored.txt'), 'not a config');
  mkdirSync(path.join(dir, 'sub.conflist'));
  assert.is(loadConfList(dir, 'same').plugins[0]?.type, 'first');
  assert.is(loadConfList(dir, 'same').source, path.join(dir, '10-a.conflist'));
  assert.is(loadConfList(dir, 'only-json').plugins[0]?.type, 'j');
  assert.throws(
    () => loadConfList(dir, 'nope'),
    (e: unknown) => e instanceof CniError && /no net configuration with name "nope"/.test(e.message),
  );
  assert.throws(() => loadConfList(path.join(dir, 'missing'), 'x'), /no net configurations found/);
});

/** a folder with one valid network beside each kind of broken sibling, in front of it in lexical order */
function brokenFolder(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cni-conf-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const put = (f: string, v: unknown) => writeFileSync(path.join(dir, f), typeof v === 'string' ? v : JSON.stringify(v));
  put('00-not-json.conflist', '{"name": "half-written", "plugins": [');
  put('01-bad-name.conflist', { name: 'bad name!', cniVersion: '1.0.0', plugins: [{ type: 'bridge' }] });
  put('02-slash-type.conflist', { name: 'slashy', cniVersion: '1.0.0', plugins: [{ type: '../../bin/sh' }] });
  put('03-dotdot-type.conflist', { name: 'dotty', cniVersion: '1.0.0', plugins: [{ type: '..' }] });
  put('04-array.conflist', [1, 2]);
  put('05-no-plugins.conflist', { name: 'empty', cniVersion: '1.0.0', plugins: [] });
  put('06-not-json.conf', 'type: bridge');
  put('07-bad-version.conf', { name: 'oldie', cniVersion: '9.x', type: 'bridge' });
  put('50-good.conflist', { name: 'good', cniVersion: '1.0.0', plugins: [{ type: 'bridge' }] });
  symlinkSync(path.join(dir, 'nowhere'), path.join(dir, '08-dangling.conflist'));
  return dir;
}

test('config folder: only the chosen file is validated; a sibling that is not JSON is skipped with a warning naming it', () => {
  const dir = brokenFolder();
  const warnings: string[] = [];
  const good = loadConfList(dir, 'good', { warn: (m) => warnings.push(m) });
  assert.is(good.source, path.join(dir, '50-good.conflist'));
  assert.equal(good.plugins[0]?.type, 'bridge');
  // the folder is read as libcni reads it, stopping at the first match: the .conf files were not needed
  assert.is(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0] ?? '', path.join(dir, '00-not-json.conflist'));
  assert.match(warnings[0] ?? '', /not valid JSON/);
  warnings.length = 0;
  assert.throws(() => loadConfList(dir, 'nothing-of-that-name', { warn: (m) => warnings.push(m) }), /no net configuration/);
  assert.equal(
    warnings.map((w) => w.split(' ')[1]?.replace(/:$/, '')),
    [path.join(dir, '00-not-json.conflist'), path.join(dir, '06-not-json.conf')],
  );
});

test('config folder: asked for by name, a broken sibling is refused with its own error, and never run', () => {
  const dir = brokenFolder();
  const quiet = { warn: () => undefined };
  const refused = (name: string, file: string, field: string, msg: RegExp) =>
    assert.throws(
      () => loadConfList(dir, name, quiet),
      (e: unknown) => e instanceof ConfigError && e.source === path.join(dir, file) && e.field === field && msg.test(e.message),
    );
  refused('bad name!', '01-bad-name.conflist', 'name', /invalid characters/);
  refused('slashy', '02-slash-type.conflist', 'plugins[0].type', /must be a plugin name, not a path/);
  refused('dotty', '03-dotdot-type.conflist', 'plugins[0].type', /must be a plugin name, not a path/);
  refused('empty', '05-no-plugins.conflist', 'plugins', /is empty/);
  refused('oldie', '07-bad-version.conf', 'cniVersion', /not a version/);
  // the network in the file that is not JSON cannot be found, and the error says which files were skipped
  assert.throws(
    () => loadConfList(dir, 'half-written', quiet),
    (e: unknown) =>
      e instanceof ConfigError &&
      /no net configuration with name "half-written"/.test(e.message) &&
      e.message.includes('00-not-json.conflist'),
  );
});

test.run();
