import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, createExec, type Exec, instanceKey, isMountPoint, linkExists, names } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forceTeardown, removeMasqChains, withCleanup } from '../src/cleanup.js';
import { removeRoot, tag, testConfig, testPrefix } from '../src/index.js';
import { FORWARDING_OFF, FORWARDING_ON, type NetnsObservation, observation, privateNetns } from '../src/private-netns.js';
import { PACKAGES_DIR } from '../src/procs.js';

test('withCleanup reports the failed body, with the cleanup failure added; cleanup still runs every step', async () => {
  const ran: string[] = [];
  try {
    await withCleanup(async (c) => {
      c.add('first', () => {
        ran.push('first');
      });
      c.add('broken', () => {
        ran.push('broken');
        throw new Error('EBUSY');
      });
      throw new Error('the assertion that failed');
    });
    assert.unreachable('withCleanup must throw');
  } catch (e) {
    assert.match((e as Error).message, /^the assertion that failed\n\(and then cleanup failed:\nbroken: EBUSY\)$/);
  }
  assert.equal(ran, ['broken', 'first'], 'every step, in reverse order');
});

test('withCleanup with a passing body throws the cleanup failure', async () => {
  try {
    await withCleanup(async (c) => {
      c.add('broken', () => {
        throw new Error('EBUSY');
      });
    });
    assert.unreachable('withCleanup must throw');
  } catch (e) {
    assert.is((e as Error).message, 'cleanup failed:\nbroken: EBUSY');
  }
});

test('forceTeardown unmounts what is mounted under the instance state folder (an overlay left by a failed test)', async () => {
  const exec = createExec();
  const root = mkdtempSync(path.join(os.tmpdir(), 'testkit-teardown-'));
  const stateDir = path.join(root, 'state');
  const mount = path.join(stateDir, `t6tk-${tag(3)}`, 'rootfs');
  mkdirSync(mount, { recursive: true });
  try {
    await exec('mount', ['-t', 'tmpfs', 't6tk', mount]);
    assert.ok(isMountPoint(mount));
    const config = {
      stateDir,
      runcRoot: path.join(root, 'runc'),
      netnsDir: path.join(root, 'netns'),
      bridge: `t6tk${tag(2)}`,
      network: `t6tknet${tag(2)}`,
      id: 't6tk',
      containers: 1,
      subnet4: '172.26.252.0/24',
      subnet6: 'fd00:c1d:26fc::/64',
    } as unknown as Config;
    await forceTeardown(config, exec, ['t6tk']);
    assert.not.ok(isMountPoint(mount), 'the mount is gone');
  } finally {
    while (isMountPoint(mount)) await exec('umount', [mount], { allowFail: true });
    rmSync(root, { recursive: true, force: true });
  }
});

const CLEANUP_JS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cleanup.js');

for (const [signal, code, who] of [
  ['SIGTERM', 143, "test-all's time limit"],
  ['SIGINT', 130, 'Ctrl-C'],
] as const) {
  test(`a test stopped by ${signal} (${who}) runs its pending cleanup, then exits ${code}`, async () => {
    const exec = createExec();
    const link = `${testPrefix('t6')}sig${tag(2)}`;
    // a test body that made a link (a bridge: this kernel may lack the dummy module), registered its removal and then hangs; it says "made" once the link exists
    const body = [
      `import { execFileSync } from 'node:child_process';`,
      `import { withCleanup } from ${JSON.stringify(CLEANUP_JS)};`,
      'await withCleanup(async (c) => {',
      `  c.add('remove the link', () => execFileSync('ip', ['link', 'del', ${JSON.stringify(link)}]));`,
      `  execFileSync('ip', ['link', 'add', ${JSON.stringify(link)}, 'type', 'bridge']);`,
      `  process.stdout.write('made\\n');`,
      '  await new Promise(() => setInterval(() => {}, 1000));',
      '});',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', body], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d) => String(d).includes('made') && resolve());
        child.on('close', () => reject(new Error(`the body ended before it made the link: ${stderr}`)));
      });
      assert.ok(linkExists(link), 'the body made its link');
      child.kill(signal);
      assert.is(await exited, code, stderr);
      assert.not.ok(linkExists(link), `the cleanup removed the link before the process ended: ${stderr}`);
      assert.match(stderr, `testkit: ${signal}: cleaning up 1 running test(s) before exiting`);
    } finally {
      child.kill('SIGKILL');
      await exec('ip', ['link', 'del', link], { allowFail: true });
    }
  });
}

test('removeMasqChains takes the per-container chains of the bridge and portmap plugins and every jump to them, also when the jumps went first; nothing else (in a netns of its own)', async () => {
  const host = createExec();
  const ns = `${testPrefix('t6')}-chains-${tag(2)}`;
  await host('ip', ['netns', 'add', ns]);
  const exec: Exec = (cmd, args, opts) => host('ip', ['netns', 'exec', ns, cmd, ...(args ?? [])], opts);
  try {
    // as Debian's plugins leave them for two containers of "net1" (core/test/host/iptables-fixtures.ts, captured):
    // c1's masquerade and DNAT chains, and c1-2's, which must stay
    const rules = `*nat
:CNI-9edd1d169bd00d16c1421008 - [0:0]
:CNI-DN-9edd1d169bd00d16c1421 - [0:0]
:CNI-DN-c2d892b58e87e28a12fe6 - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-MASQ - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
:CNI-c2d892b58e87e28a12fe6479 - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j CNI-c2d892b58e87e28a12fe6479
-A POSTROUTING -s 10.1.0.3/32 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j CNI-9edd1d169bd00d16c1421008
-A CNI-9edd1d169bd00d16c1421008 -d 10.1.0.0/24 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j ACCEPT
-A CNI-DN-9edd1d169bd00d16c1421 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.1.0.3:53
-A CNI-DN-c2d892b58e87e28a12fe6 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"net1\\" id: \\"c1\\"" -m multiport --dports 8080 -j CNI-DN-c2d892b58e87e28a12fe6
-A CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \\"net1\\" id: \\"c1-2\\"" -m multiport --dports 5353 -j CNI-DN-9edd1d169bd00d16c1421
-A CNI-c2d892b58e87e28a12fe6479 -d 10.1.0.0/24 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j ACCEPT
COMMIT
`;
    const save = async () =>
      (await exec('iptables-save', ['-t', 'nat'])).stdout
        .split('\n')
        .filter((l) => /^[:-]/.test(l))
        .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
    // c1's jumps, which a DEL that got halfway may have removed already, leaving its chains with no rule naming them
    const jumps = [
      ['POSTROUTING', '-s', '10.1.0.2/32', '-m', 'comment', '--comment', 'name: "net1" id: "c1"', '-j', 'CNI-c2d892b58e87e28a12fe6479'],
      [
        'CNI-HOSTPORT-DNAT',
        '-p',
        'tcp',
        '-m',
        'comment',
        '--comment',
        'dnat name: "net1" id: "c1"',
        '-m',
        'multiport',
        '--dports',
        '8080',
        '-j',
        'CNI-DN-c2d892b58e87e28a12fe6',
      ],
    ];
    for (const halfway of [false, true]) {
      await host('ip', ['netns', 'exec', ns, 'iptables-restore'], { input: rules });
      const start = await save();
      if (halfway) for (const j of jumps) await exec('iptables', ['-t', 'nat', '-D', ...j]);
      await removeMasqChains(exec, ['c1'], 'net1');
      const gone = start.filter((l) => l.includes('c2d892b58e87e28a12fe6') || l.includes('id: \\"c1\\"'));
      assert.is(gone.length, 6, 'what goes: 2 chains, their 2 rules, 2 jumps');
      assert.equal(
        await save(),
        start.filter((l) => !gone.includes(l)),
        `${halfway ? 'with its jumps gone before, ' : ''}c1's chains and jumps gone; c1-2's and the shared chains as they were`,
      );
    }
  } finally {
    await host('ip', ['netns', 'del', ns], { allowFail: true });
  }
});

// A test body that holds forwarding as a test running the bridge plugin in the suite's namespace does; the
// plugin's ADD is stood in for by turning the sysctls on. Modes: pass, fail (the body throws after the ADD),
// keep (holds and exits without its cleanup: another holder), leave (that holder's cleanup).
const HOLDER = `import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [mode, configJson, testkit] = process.argv.slice(2);
const { Cleanup, holdForwarding, withCleanup } = await import(pathToFileURL(testkit).href);
const config = JSON.parse(configJson);
const add = () => {
  for (const f of ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding']) writeFileSync(f, '1');
};
if (mode === 'pass' || mode === 'fail')
  await withCleanup(async (c) => {
    await holdForwarding(c, config);
    add();
    if (mode === 'fail') throw new Error('the test failed after its ADD');
  });
else if (mode === 'keep') {
  await holdForwarding(new Cleanup(), config);
  add();
} else {
  const c = new Cleanup();
  await holdForwarding(c, config);
  await c.run();
}
`;

test('holdForwarding: joined before the ADD, left by the cleanup also when the test fails; forwarding back once no other holder is left (in a netns of its own)', async () => {
  const a = await testConfig();
  const b = await testConfig();
  await withCleanup(async (c) => {
    for (const x of [a, b]) c.add('remove temp root', () => removeRoot(x.root));
    const script = path.join(a.root, 'holder.mjs');
    writeFileSync(script, HOLDER);
    const testkit = path.join(PACKAGES_DIR, 'testkit', 'dist', 'src', 'index.js');
    const run = (mode: string, config: Config) => [process.execPath, script, mode, JSON.stringify(config), testkit];
    const ns = await privateNetns(c);
    const obs = await ns.run({
      watch: [],
      steps: [
        { label: 'off', set: FORWARDING_OFF },
        { label: 'a passes', run: run('pass', a.config) },
        { label: 'a fails', run: run('fail', a.config) },
        { label: 'b holds', run: run('keep', b.config) },
        { label: 'a passes while b holds', run: run('pass', a.config) },
        { label: 'b leaves', run: run('leave', b.config) },
      ],
    });
    const at = (label: string): NetnsObservation => observation(obs, label, { anyExit: true });
    const holders = (label: string) => Object.keys(at(label).record?.instances ?? {});
    assert.is(at('a passes').code, 0, at('a passes').stderr);
    assert.equal(at('a passes').sysctls, FORWARDING_OFF, 'its cleanup put forwarding back');
    assert.is(at('a passes').record, null, 'and left the record');
    assert.is(at('a fails').code, 1, 'the body failed');
    assert.match(at('a fails').stderr ?? '', 'the test failed after its ADD');
    assert.equal(at('a fails').sysctls, FORWARDING_OFF, 'forwarding back after a failed test too');
    assert.is(at('a fails').record, null);
    assert.equal(at('b holds').sysctls, FORWARDING_ON);
    assert.equal(at('b holds').record?.sysctlsBefore, FORWARDING_OFF, 'the first holder noted them before its ADD');
    assert.equal(holders('b holds'), [instanceKey(names(b.config).runDir)]);
    assert.equal(at('a passes while b holds').sysctls, FORWARDING_ON, 'b still holds them: a leaves them on');
    assert.equal(holders('a passes while b holds'), [instanceKey(names(b.config).runDir)]);
    assert.equal(at('b leaves').sysctls, FORWARDING_OFF, 'the last holder out put them back');
    assert.is(at('b leaves').record, null);
  });
});

test.run();
