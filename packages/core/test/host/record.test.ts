import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  FORWARDING_SYSCTLS,
  forwardingHolders,
  type HostRecordOptions,
  hostRecordFile,
  instanceRecord,
  joinHostRecord,
  leaveHostRecord,
  readHostRecord,
  readSysctlAt,
} from '../../src/index.js';

/**
 * The host record's bookkeeping against a sysctl tree in a temp folder (the real one is shared by everyone on
 * the host; cli/test/e2e/forwarding.test.ts runs the real thing in a private network namespace).
 */
function sandbox(start: '0' | '1') {
  const root = mkdtempSync(path.join(os.tmpdir(), 'host-record-'));
  const sysctlRoot = path.join(root, 'sys');
  for (const k of FORWARDING_SYSCTLS) {
    const f = path.join(sysctlRoot, ...k.split('.'));
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, `${start}\n`);
  }
  const opts: HostRecordOptions = { dir: path.join(root, 'record'), sysctlRoot, netns: 'net:[4026530001]', bootId: 'boot-1' };
  // what the bridge plugin's ADD does
  const pluginAdd = () => {
    for (const k of FORWARDING_SYSCTLS) writeFileSync(path.join(sysctlRoot, ...k.split('.')), '1');
  };
  const values = () => FORWARDING_SYSCTLS.map((k) => readSysctlAt(k, sysctlRoot));
  return { root, opts, pluginAdd, values, done: () => rmSync(root, { recursive: true, force: true }) };
}
const entry = (id: string) => ({ id, bridge: `br-${id}`, network: `net-${id}`, createdBridge: true, createdDirs: [`/x/${id}`] });

test('from off: two overlapping instances, the last one out restores off and removes the record and its folder', async () => {
  const s = sandbox('0');
  try {
    await joinHostRecord('/s1/a', entry('a'), s.opts);
    s.pluginAdd();
    await joinHostRecord('/s2/b', entry('b'), s.opts);
    assert.equal(readHostRecord(s.opts)?.sysctlsBefore, { 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0' });
    const a = await leaveHostRecord('/s1/a', s.opts);
    assert.equal([a.remaining, a.restored], [1, []]);
    assert.equal(s.values(), ['1', '1'], 'b still holds forwarding');
    const b = await leaveHostRecord('/s2/b', s.opts);
    assert.equal([b.remaining, b.restored], [0, ['net.ipv4.ip_forward=0', 'net.ipv6.conf.all.forwarding=0']]);
    assert.equal(s.values(), ['0', '0']);
    assert.not.ok(existsSync(hostRecordFile(s.opts)), 'record removed');
    assert.not.ok(existsSync(s.opts.dir ?? ''), 'its folder too');
  } finally {
    s.done();
  }
});

test('from on: nothing is written back', async () => {
  const s = sandbox('1');
  try {
    await joinHostRecord('/s1/a', entry('a'), s.opts);
    const a = await leaveHostRecord('/s1/a', s.opts);
    assert.equal(a.restored, []);
    assert.equal(s.values(), ['1', '1']);
  } finally {
    s.done();
  }
});

test('the first joiner notes the values; a later one (forwarding already on) does not overwrite them', async () => {
  const s = sandbox('0');
  try {
    await joinHostRecord('/s1/a', entry('a'), s.opts);
    s.pluginAdd();
    await joinHostRecord('/s1/a', { ...entry('a'), createdDirs: ['/y'] }, s.opts);
    const r = readHostRecord(s.opts);
    assert.equal(r?.sysctlsBefore['net.ipv4.ip_forward'], '0');
    assert.equal(instanceRecord('/s1/a', s.opts)?.createdDirs, ['/x/a', '/y'], 'a second up of the same instance adds to its folders');
  } finally {
    s.done();
  }
});

test('after a reboot an old entry still names its files but holds forwarding for nobody', async () => {
  const s = sandbox('0');
  try {
    await joinHostRecord('/s1/old', entry('old'), s.opts);
    s.pluginAdd();
    // reboot: forwarding back at its boot value, the record (in /var/lib) still there
    for (const k of FORWARDING_SYSCTLS) writeFileSync(path.join(s.opts.sysctlRoot ?? '', ...k.split('.')), '0');
    const boot2 = { ...s.opts, bootId: 'boot-2' };
    await joinHostRecord('/s1/new', entry('new'), boot2);
    assert.equal(forwardingHolders(readHostRecord(boot2), 'boot-2'), ['/s1/new']);
    s.pluginAdd();
    const n = await leaveHostRecord('/s1/new', boot2);
    assert.equal(n.restored.length, 2, 'the new boot’s last holder restores');
    assert.equal(s.values(), ['0', '0']);
    assert.ok(instanceRecord('/s1/old', boot2), 'the old entry stays for its own down');
    const o = await leaveHostRecord('/s1/old', boot2);
    assert.equal(o.entry?.createdDirs, ['/x/old']);
    assert.equal(o.restored, [], 'an old boot’s entry restores nothing');
    assert.not.ok(existsSync(hostRecordFile(boot2)));
  } finally {
    s.done();
  }
});

test('a corrupt record is reported and replaced, not a stop', async () => {
  const s = sandbox('0');
  try {
    mkdirSync(s.opts.dir ?? '', { recursive: true });
    writeFileSync(hostRecordFile(s.opts), '{"instances": ');
    const warnings: string[] = [];
    await joinHostRecord('/s1/a', entry('a'), { ...s.opts, warn: (m) => warnings.push(m) });
    assert.is(warnings.length, 1);
    assert.ok(warnings[0]?.includes(hostRecordFile(s.opts)), 'the warning names the file');
    assert.ok(JSON.parse(readFileSync(hostRecordFile(s.opts), 'utf8')).instances['/s1/a']);
  } finally {
    s.done();
  }
});

test('leaving without an entry changes nothing', async () => {
  const s = sandbox('0');
  try {
    s.pluginAdd();
    const r = await leaveHostRecord('/s1/none', s.opts);
    assert.equal([r.entry, r.remaining, r.restored], [undefined, 0, []]);
    assert.equal(s.values(), ['1', '1']);
  } finally {
    s.done();
  }
});

test('the record is per network namespace', () => {
  assert.is(path.basename(hostRecordFile({ dir: '/d', netns: 'net:[4026531833]' })), 'netns-4026531833.json');
  assert.match(hostRecordFile(), /netns-\d+\.json$/);
});

test('shared chains from before: the first instance that maps ports notes them, later ones keep that, leave hands them back', async () => {
  const s = sandbox('0');
  try {
    await joinHostRecord('/s1/a', entry('a'), s.opts);
    assert.is(readHostRecord(s.opts)?.sharedChainsBefore, undefined, 'an instance without port mappings notes none');
    const b = await joinHostRecord('/s1/b', entry('b'), { ...s.opts, sharedChainsNow: ['iptables filter CNI-ADMIN'] });
    assert.equal(b.sharedChainsBefore, ['iptables filter CNI-ADMIN'], 'the first that knows notes its view');
    // c joins after b's ADD made the portmap chains: the record keeps b's view
    const c = await joinHostRecord('/s1/c', entry('c'), {
      ...s.opts,
      sharedChainsNow: ['iptables filter CNI-ADMIN', 'iptables nat CNI-HOSTPORT-DNAT'],
    });
    assert.equal(c.sharedChainsBefore, ['iptables filter CNI-ADMIN']);
    assert.equal((await leaveHostRecord('/s1/b', s.opts)).sharedChainsBefore, ['iptables filter CNI-ADMIN']);
    assert.equal((await leaveHostRecord('/s1/c', s.opts)).sharedChainsBefore, ['iptables filter CNI-ADMIN']);
    // after a reboot the chains are gone: the next first instance notes its own view
    await joinHostRecord('/s1/d', entry('d'), { ...s.opts, bootId: 'boot-2', sharedChainsNow: [] });
    assert.equal(readHostRecord(s.opts)?.sharedChainsBefore, []);
    assert.equal((await leaveHostRecord('/s1/a', { ...s.opts, bootId: 'boot-2' })).sharedChainsBefore, []);
  } finally {
    s.done();
  }
});

test.run();
