import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createExec, currentBootId, currentNetns, type Exec, isMountPoint, linkExists } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tag, testPrefix } from '../src/index.js';
import { sweep } from '../src/sweep.js';

const host = createExec();

/**
 * One of each kind of leftover a killed run leaves, planted for real under a prefix, a folder and a /16 of this
 * test's own, beside things that are not the run's (another prefix, another /16, another folder): the sweep
 * lists exactly the run's, removes them, and a second sweep finds nothing. iptables is planted in a network
 * namespace of the test's own (the sweep's exec enters it for iptables only), so the host's tables are not touched.
 */
test('sweep removes what a killed run left (runc container, netns and its record, mount, bridge and its port, chains and jumps, host-record entry), nothing else', async () => {
  const P = `${testPrefix('t6')}w${tag(1)}`;
  const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'testkit-sweep-'));
  const other = mkdtempSync(path.join(os.tmpdir(), 'testkit-sweep-other-'));
  const recordDir = path.join(tmpRoot, 'records');
  const fw = `${P}-fw`;
  const tables = `${testPrefix('t6')}x${tag(2)}-ipt`; // not the run's: holds the iptables the sweep reads
  const br = `${P}br`;
  const port = `vw${tag(3)}`;
  const notOurs = `${testPrefix('t6')}y${tag(2)}`;
  const root = path.join(tmpRoot, 'run1');
  const mnt = path.join(root, 'mnt');
  const runcRoot = path.join(root, 'runc');
  const cid = `${P}c`;
  const exec: Exec = (cmd, args, o) =>
    /^ip6?tables/.test(cmd) ? host('nsenter', [`--net=/var/run/netns/${tables}`, cmd, ...(args ?? [])], o) : host(cmd, args, o);
  try {
    // a created runc container whose root is in the run's folder
    const bundle = path.join(root, 'bundle');
    mkdirSync(path.join(bundle, 'rootfs', 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', path.join(bundle, 'rootfs', 'bin', 'sh'));
    await host('runc', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    spec.process.args = ['/bin/sh', '-c', 'read x'];
    writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const log = openSync(path.join(root, 'runc.log'), 'w');
    const created = spawnSync('runc', ['--root', runcRoot, 'create', '--bundle', bundle, cid], { stdio: ['ignore', log, log] });
    closeSync(log);
    assert.is(created.status, 0, readFileSync(path.join(root, 'runc.log'), 'utf8'));
    // a namespace named with the prefix, and its host record
    await host('ip', ['netns', 'add', fw]);
    const fwIno = statSync(`/var/run/netns/${fw}`).ino;
    mkdirSync(recordDir, { recursive: true });
    const boot = currentBootId();
    const entry = (id: string) => ({ id, bridge: br, network: 'n', createdBridge: true, createdDirs: [], joinedAt: '', bootId: boot });
    writeFileSync(
      path.join(recordDir, `netns-${fwIno}.json`),
      JSON.stringify({
        netns: `net:[${fwIno}]`,
        bootId: boot,
        sysctlsBefore: {},
        instances: { [path.join(root, 'state', 'a')]: entry('a') },
      }),
    );
    // this namespace's record: one entry of the run, one of another folder (no sysctls noted: nothing to put back)
    const hereIno = /\[(\d+)\]/.exec(currentNetns())?.[1];
    const otherKey = path.join(other, 'state', 'b');
    writeFileSync(
      path.join(recordDir, `netns-${hereIno}.json`),
      JSON.stringify({
        netns: currentNetns(),
        bootId: boot,
        sysctlsBefore: {},
        instances: { [path.join(root, 'state', 'c')]: entry('c'), [otherKey]: entry('b') },
      }),
    );
    // a mount in the run's folder
    mkdirSync(mnt, { recursive: true });
    await host('mount', ['-t', 'tmpfs', 'sweep-test', mnt]);
    // a bridge with the prefix, a port on it named otherwise, and a link that is not the run's
    await host('ip', ['link', 'add', br, 'type', 'bridge']);
    await host('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', `${port}p`]);
    await host('ip', ['link', 'set', port, 'master', br]);
    await host('ip', ['link', 'add', notOurs, 'type', 'bridge']);
    // the plugins' chains for an address of the run's /16 (172.25) and of another's (172.31), in both tools
    await host('ip', ['netns', 'add', tables]);
    const nat4 = `*nat
:CNI-aaaaaaaaaaaaaaaaaaaaaaaa - [0:0]
:CNI-DN-aaaaaaaaaaaaaaaaaaaaa - [0:0]
:CNI-bbbbbbbbbbbbbbbbbbbbbbbb - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
-A POSTROUTING -s 172.25.7.2/32 -m comment --comment "name: \\"n\\" id: \\"a\\"" -j CNI-aaaaaaaaaaaaaaaaaaaaaaaa
-A POSTROUTING -s 172.31.7.2/32 -m comment --comment "name: \\"n\\" id: \\"b\\"" -j CNI-bbbbbbbbbbbbbbbbbbbbbbbb
-A CNI-aaaaaaaaaaaaaaaaaaaaaaaa -d 172.25.7.0/24 -j ACCEPT
-A CNI-bbbbbbbbbbbbbbbbbbbbbbbb -d 172.31.7.0/24 -j ACCEPT
-A CNI-DN-aaaaaaaaaaaaaaaaaaaaa -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.25.7.2:80
-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 8080 -j CNI-DN-aaaaaaaaaaaaaaaaaaaaa
COMMIT
*filter
:CNI-FORWARD - [0:0]
:CNI-ADMIN - [0:0]
-A FORWARD -i ${br} -j ACCEPT
-A CNI-ADMIN -s 172.25.7.9/32 -j ACCEPT
-A CNI-FORWARD -s 172.25.7.2/32 -j ACCEPT
-A CNI-FORWARD -s 172.31.7.2/32 -j ACCEPT
COMMIT
`;
    const nat6 = `*nat
:CNI-aaaaaaaaaaaaaaaaaaaaaaaa - [0:0]
-A POSTROUTING -s fd00:c1d:1907::2/128 -j CNI-aaaaaaaaaaaaaaaaaaaaaaaa
-A POSTROUTING -s fd00:c1d:1f07::2/128 -j ACCEPT
-A CNI-aaaaaaaaaaaaaaaaaaaaaaaa -d fd00:c1d:1907::/64 -j ACCEPT
COMMIT
`;
    await host('ip', ['netns', 'exec', tables, 'iptables-restore'], { input: nat4 });
    await host('ip', ['netns', 'exec', tables, 'ip6tables-restore'], { input: nat6 });

    const opts = { prefix: P, net4: '172.25', tmpRoot, recordDir, exec };
    const listed = await sweep({ ...opts, dryRun: true });
    assert.equal(
      listed.sort(),
      [
        `host-record ${path.join(recordDir, `netns-${fwIno}.json`)}`,
        `host-record entry ${path.join(root, 'state', 'c')}`,
        'ip6tables nat -A POSTROUTING -s fd00:c1d:1907::2/128 -j CNI-aaaaaaaaaaaaaaaaaaaaaaaa',
        'ip6tables nat chain CNI-aaaaaaaaaaaaaaaaaaaaaaaa',
        'iptables filter -A CNI-FORWARD -s 172.25.7.2/32 -j ACCEPT',
        `iptables filter -A FORWARD -i ${br} -j ACCEPT`,
        'iptables nat -A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 8080 -j CNI-DN-aaaaaaaaaaaaaaaaaaaaa',
        'iptables nat -A POSTROUTING -s 172.25.7.2/32 -m comment --comment "name: \\"n\\" id: \\"a\\"" -j CNI-aaaaaaaaaaaaaaaaaaaaaaaa',
        'iptables nat chain CNI-DN-aaaaaaaaaaaaaaaaaaaaa',
        'iptables nat chain CNI-aaaaaaaaaaaaaaaaaaaaaaaa',
        `link ${br}`,
        `link ${port} (a port of ${br})`,
        `mount ${mnt}`,
        `netns ${fw}`,
        `runc-container ${runcRoot} ${cid}`,
      ].sort(),
    );
    assert.ok(linkExists(br) && isMountPoint(mnt), 'a dry run changes nothing');

    assert.equal((await sweep(opts)).sort(), listed);
    assert.equal(await sweep({ ...opts, dryRun: true }), [], 'nothing of the run is left');
    // what was not the run's is all still there
    assert.ok(linkExists(notOurs), 'a link of another prefix stays');
    const nat = (await exec('iptables-save', ['-t', 'nat'])).stdout;
    assert.match(nat, '-A CNI-bbbbbbbbbbbbbbbbbbbbbbbb -d 172.31.7.0/24 -j ACCEPT');
    assert.match(nat, ':CNI-HOSTPORT-DNAT - ');
    const filter = (await exec('iptables-save', ['-t', 'filter'])).stdout;
    assert.match(filter, '-A CNI-FORWARD -s 172.31.7.2/32 -j ACCEPT');
    assert.match(filter, '-A CNI-ADMIN -s 172.25.7.9/32 -j ACCEPT', "an administrator's rule stays, whatever it names");
    assert.match((await exec('ip6tables-save', ['-t', 'nat'])).stdout, '-A POSTROUTING -s fd00:c1d:1f07::2/128 -j ACCEPT');
    const record = JSON.parse(readFileSync(path.join(recordDir, `netns-${hereIno}.json`), 'utf8'));
    assert.equal(Object.keys(record.instances), [otherKey], "the other folder's entry stays in the record");
  } finally {
    await host('runc', ['--root', runcRoot, 'delete', '--force', cid], { allowFail: true });
    while (isMountPoint(mnt)) await host('umount', [mnt], { allowFail: true });
    for (const l of [port, br, notOurs]) await host('ip', ['link', 'del', l], { allowFail: true });
    for (const n of [fw, tables]) await host('ip', ['netns', 'del', n], { allowFail: true });
    rmSync(tmpRoot, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  }
});

test.run();
