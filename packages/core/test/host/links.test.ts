import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  bridgePorts,
  createExec,
  linkAlias,
  linkExists,
  linkInNetns,
  parseLinks,
  parseRoutes,
  recordingExec,
  routeTo,
} from '../../src/index.js';

const exec = createExec();

test('routeTo: the device and gateway of `ip -j route get`, on the host or in a pin; nothing when there is no route', async () => {
  const rec = recordingExec((argv) => {
    if (argv.includes('10.0.0.9'))
      return { stdout: '[{"dst":"10.0.0.9","gateway":"10.0.0.1","dev":"eth0","prefsrc":"10.0.0.5","flags":[],"uid":0,"cache":[]}]' };
    return { exitCode: 2, stderr: 'RTNETLINK answers: Network is unreachable' };
  });
  assert.equal(await routeTo(rec, '10.0.0.9'), { dev: 'eth0', gateway: '10.0.0.1' });
  assert.equal(rec.calls[0]?.argv, ['ip', '-j', '-4', 'route', 'get', '10.0.0.9']);
  assert.is(await routeTo(rec, 'fd00::9', { pin: '/run/netns/x' }), undefined);
  assert.equal(rec.calls[1]?.argv, ['nsenter', '--net=/run/netns/x', 'ip', '-j', '-6', 'route', 'get', 'fd00::9']);
  // the real host: loopback goes over lo
  assert.is((await routeTo(exec, '127.0.0.1'))?.dev, 'lo');
});

test('bridgePorts reads a bridge and its ports from a sysfs tree; undefined for no link or a non-bridge', () => {
  const sys = mkdtempSync(path.join(os.tmpdir(), 'core-sysnet-'));
  try {
    mkdirSync(path.join(sys, 'br0', 'bridge'), { recursive: true });
    mkdirSync(path.join(sys, 'br0', 'brif', 'vethb'), { recursive: true });
    mkdirSync(path.join(sys, 'br0', 'brif', 'vetha'), { recursive: true });
    mkdirSync(path.join(sys, 'br1', 'bridge'), { recursive: true });
    mkdirSync(path.join(sys, 'br1', 'brif'), { recursive: true });
    mkdirSync(path.join(sys, 'eth0'), { recursive: true });
    writeFileSync(path.join(sys, 'eth0', 'type'), '1\n');
    assert.equal(bridgePorts('br0', sys), ['vetha', 'vethb']);
    assert.equal(bridgePorts('br1', sys), []);
    assert.is(bridgePorts('eth0', sys), undefined);
    assert.is(bridgePorts('nope', sys), undefined);
  } finally {
    rmSync(sys, { recursive: true, force: true });
  }
});

test('bridgePorts on the real /sys/class/net: the loopback is no bridge, a missing name is nothing', () => {
  // lo exists on every host and is never a bridge
  execFileSync('ip', ['link', 'show', 'lo']);
  assert.is(bridgePorts('lo'), undefined);
  assert.is(bridgePorts('t6nolink0'), undefined);
});

test('ip -j addr output becomes links with their veth peer index', () => {
  const text = JSON.stringify([
    {
      ifindex: 2,
      link_index: 31,
      ifname: 'eth0',
      flags: ['UP'],
      mtu: 1500,
      address: 'aa:bb:cc:dd:ee:ff',
      link_netnsid: 0,
      linkinfo: { info_kind: 'veth' },
      addr_info: [
        { family: 'inet', local: '10.0.0.2', prefixlen: 24 },
        { family: 'inet6', local: 'fd00::2', prefixlen: 64 },
      ],
    },
    { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK'] },
  ]);
  const got = parseLinks(text);
  assert.is(got[0]?.ifname, 'eth0');
  assert.is(got[0]?.kind, 'veth');
  assert.is(got[0]?.peerIfindex, 31);
  assert.equal(
    got[0]?.addrs.map((a) => `${a.family} ${a.local}/${a.prefixlen}`),
    ['4 10.0.0.2/24', '6 fd00::2/64'],
  );
  assert.is(got[1]?.up, false);
  assert.equal(got[1]?.addrs, []);
  assert.equal(parseLinks(''), []);
});

test('ip -j route output keeps destination, gateway and device', () => {
  const got = parseRoutes(JSON.stringify([{ dst: 'default', gateway: '10.0.0.1', dev: 'eth0', flags: [] }]), 4);
  assert.equal(got, [
    {
      family: 4,
      dst: 'default',
      dev: 'eth0',
      gateway: '10.0.0.1',
      table: undefined,
      type: undefined,
      scope: undefined,
      protocol: undefined,
    },
  ]);
});

test('linkExists and linkAlias read sysfs: the mark on a link, nothing for a link that is not there', () => {
  const sys = mkdtempSync(path.join(os.tmpdir(), 'core-sysnet-'));
  try {
    mkdirSync(path.join(sys, 'br0'));
    writeFileSync(path.join(sys, 'br0', 'ifalias'), 'cni-demo:x\n');
    assert.ok(linkExists('br0', sys));
    assert.is(linkAlias('br0', sys), 'cni-demo:x');
    assert.not.ok(linkExists('br1', sys));
    assert.is(linkAlias('br1', sys), undefined);
  } finally {
    rmSync(sys, { recursive: true, force: true });
  }
});

/** Waits until `pid` is inside the netns pinned at `pin` (ip netns exec has done its setns). */
async function waitInside(pid: number, pin: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if (statSync(`/proc/${pid}/ns/net`).ino === statSync(pin).ino) return;
    } catch {
      /* not there yet */
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`pid ${pid} never entered ${pin}`);
}

test('linkInNetns answers from /proc/<pid>/net/dev when the pid is in the pinned netns, else asks nsenter', async () => {
  const name = `t6lc-${randomBytes(4).toString('hex')}`;
  const pin = `/var/run/netns/${name}`;
  await exec('ip', ['netns', 'add', name]);
  const sleeper = spawn('ip', ['netns', 'exec', name, 'sleep', '60'], { stdio: 'ignore' });
  try {
    const pid = sleeper.pid ?? 0;
    await waitInside(pid, pin);
    await exec('ip', ['-n', name, 'link', 'add', 't6lcdum', 'type', 'veth', 'peer', 'name', 't6lcpeer']);

    const rec = recordingExec();
    assert.is(await linkInNetns(rec, pin, 'lo', pid), true);
    assert.is(await linkInNetns(rec, pin, 't6lcdum', pid), true);
    assert.is(await linkInNetns(rec, pin, 'eth0', pid), false);
    assert.is(await linkInNetns(rec, pin, 't6lcdu', pid), false, 'a prefix of a name is not the name');
    assert.equal(rec.calls, [], 'no process started');

    // a pid in another netns (ours, on the host): the /proc answer would be the host's, so nsenter is asked
    const spy = recordingExec((argv) => (argv[0] === 'nsenter' ? { exitCode: 0 } : undefined));
    assert.is(await linkInNetns(spy, pin, 'eth0', process.pid), true, 'the (recorded) nsenter answer counts');
    assert.equal(spy.calls[0]?.argv, ['nsenter', `--net=${pin}`, 'ip', 'link', 'show', 'dev', 'eth0']);
    assert.is(await linkInNetns(exec, pin, 't6lcdum', process.pid), true, 'real nsenter fallback');

    // the process is gone: nsenter again, through the pin that outlives it
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.once('exit', r));
    assert.is(await linkInNetns(exec, pin, 't6lcdum', pid), true);
    assert.is(await linkInNetns(exec, pin, 'eth0', pid), false);
  } finally {
    sleeper.kill('SIGKILL');
    await exec('ip', ['netns', 'del', name], { allowFail: true });
  }
});

test.run();
