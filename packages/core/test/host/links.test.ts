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
  inMainTable,
  parseRoutes,
  readNetwork,
  readLinks,
  readRoutes,
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

test('readNetwork: links and both families of routes from one ip -batch, in a pin or on the host; main table told apart', async () => {
  const links =
    '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]}]';
  const v4 =
    '[{"type":"unicast","dst":"default","gateway":"10.0.0.1","dev":"eth0","table":"main","flags":[]},' +
    '{"type":"local","dst":"10.0.0.5","dev":"eth0","table":"local","flags":[]}]';
  const v6 = '[{"type":"unicast","dst":"default","gateway":"fd00::1","dev":"eth0","metric":1024,"flags":[],"pref":"medium"}]';
  const rec = recordingExec(() => ({ stdout: `${links}\n${v4}\n${v6}\n` }));
  const r = await readNetwork(rec, { pin: '/run/netns/x' });
  assert.equal(rec.calls[0]?.argv, ['nsenter', '--net=/run/netns/x', 'ip', '-j', '-d', '-batch', '-']);
  assert.is(rec.calls[0]?.opts.input, 'addr show\nroute show table all root 0.0.0.0/0\nroute show table all root ::/0\n');
  assert.equal(
    r.links.map((l) => [l.ifname, l.addrs.map((a) => a.local)]),
    [['lo', ['127.0.0.1']]],
  );
  assert.equal(
    r.routes.map((x) => [x.family, x.dst, x.gateway, inMainTable(x)]),
    [
      [4, 'default', '10.0.0.1', true],
      [4, '10.0.0.5', undefined, false],
      [6, 'default', 'fd00::1', true],
    ],
  );
  await readNetwork(rec);
  assert.equal(rec.calls[1]?.argv, ['ip', '-j', '-d', '-batch', '-']);
  // an answer missing is an error, never a network read as empty
  const short = recordingExec(() => ({ stdout: `${links}\n${v4}\n` }));
  try {
    await readNetwork(short);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /2 answers to 3 commands/);
  }
  // a pin that is gone reads as nothing only when the caller allows it
  const gone = recordingExec(() => ({ exitCode: 1, stderr: 'nsenter: cannot open /run/netns/x' }));
  assert.equal(await readNetwork(gone, { pin: '/run/netns/x', allowFail: true }), { links: [], routes: [] });
});

test('readNetwork on the real host reads what the separate ip calls read: every v4 and v6 route, lo with 127.0.0.1', async () => {
  const [one, routes] = await Promise.all([readNetwork(exec), readRoutes(exec)]);
  assert.ok(one.links.some((l) => l.ifname === 'lo' && l.addrs.some((a) => a.local === '127.0.0.1')));
  // the family of every route matches its destination, and lo's routes (no other test touches lo) are all there
  for (const r of one.routes) if (r.dst.includes(':')) assert.is(r.family, 6, r.dst);
  for (const r of one.routes) if (/^\d+\.\d+\.\d+\.\d+/.test(r.dst)) assert.is(r.family, 4, r.dst);
  const lo = (xs: typeof routes) =>
    xs
      .filter((r) => r.dev === 'lo')
      .map((r) => `${r.family} ${inMainTable(r) ? 'main' : r.table} ${r.dst}`)
      .sort();
  assert.equal(lo(one.routes), lo(routes));
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

test('parseLinks and parseRoutes on real ip -j output, read through a pin as the readers do (scratch netns for a container and its host)', async () => {
  const tag = randomBytes(4).toString('hex');
  const [box, host] = [`t6lj-${tag}`, `t6lh-${tag}`];
  await exec('ip', ['netns', 'add', box]);
  await exec('ip', ['netns', 'add', host]);
  try {
    const inBox = (args: string[]) => exec('ip', ['-n', box, ...args]);
    const inHost = (args: string[]) => exec('ip', ['-n', host, ...args]);
    // as the bridge plugin wires a container: a bridge on the host side, a veth whose peer is eth0 in the box
    await inHost(['link', 'add', 't6ljbr', 'type', 'bridge']);
    await inHost(['link', 'add', 't6ljv0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', box]);
    await inHost(['link', 'set', 't6ljv0', 'master', 't6ljbr']);
    for (const l of ['t6ljbr', 't6ljv0']) await inHost(['link', 'set', l, 'up']);
    await inBox(['link', 'set', 'eth0', 'mtu', '1400']);
    await inBox(['link', 'set', 'eth0', 'up']);
    await inBox(['addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
    await inBox(['addr', 'add', 'fd00:77::2/64', 'dev', 'eth0', 'nodad']);
    await inBox(['route', 'add', 'default', 'via', '10.77.0.1', 'dev', 'eth0']);
    await inBox(['-6', 'route', 'add', 'default', 'via', 'fd00:77::1', 'dev', 'eth0']);

    const hostSide = await readLinks(exec, { pin: `/var/run/netns/${host}` });
    const v0 = hostSide.find((l) => l.ifname === 't6ljv0');
    assert.equal([v0?.kind, v0?.master, v0?.up], ['veth', 't6ljbr', true]);
    assert.is(hostSide.find((l) => l.ifname === 't6ljbr')?.kind, 'bridge');
    const eth0 = (await readLinks(exec, { pin: `/var/run/netns/${box}` })).find((l) => l.ifname === 'eth0');
    assert.equal([eth0?.kind, eth0?.up, eth0?.mtu, eth0?.master], ['veth', true, 1400, undefined]);
    assert.equal(
      eth0?.addrs.filter((a) => a.scope === 'global').map((a) => `${a.family} ${a.local}/${a.prefixlen}`),
      ['4 10.77.0.2/24', '6 fd00:77::2/64'],
    );
    assert.is(eth0?.peerIfindex, v0?.ifindex, 'eth0 names its peer on the host side by index');
    assert.type(eth0?.peerNetnsId, 'number', 'in another netns');
    assert.match(eth0?.mac ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

    const routes = await readRoutes(exec, { pin: `/var/run/netns/${box}`, filter: ['default'] });
    assert.equal(
      routes.map((r) => [r.family, r.dst, r.gateway, r.dev]),
      [
        [4, 'default', '10.77.0.1', 'eth0'],
        [6, 'default', 'fd00:77::1', 'eth0'],
      ],
    );
  } finally {
    await exec('ip', ['netns', 'del', box], { allowFail: true });
    await exec('ip', ['netns', 'del', host], { allowFail: true });
  }
});

/** Waits until `pid` is inside the netns pinned at `pin` (ip netns exec has done its setns). */
async function waitInside(pid: number, pin: string): Promise<void> {
  // an event the test cannot await: polled, with a bound that only turns a hang into a failure
  for (const end = Date.now() + 120_000; Date.now() < end; ) {
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
