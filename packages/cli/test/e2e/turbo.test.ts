import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Config, createExec, type ExecResult, getLink, isMountPoint, readLeases, readLinks, runcState } from '@cni-demo/core';
import {
  demoGoneProblems,
  demoUpProblems,
  forceTeardown,
  hostSnapshot,
  PACKAGES_DIR,
  removeRoot,
  tag,
  testConfig,
  testPrefix,
  withCleanup,
  writeConfigFile,
  CNI_DEMO_CLI,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The paths the README gives, run as a user runs them, each judged on the host (addresses, pings, what is left),
 * not on exit codes alone: `pnpm turbo run demo -- <flags>` and `down`, every step alone through
 * `pnpm --filter <step> run up|down`, and the host-assertion script CI runs around the README's demo.
 */
const exec = createExec();
const REPO = path.dirname(PACKAGES_DIR);
const ENV = { TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', NO_COLOR: '1' };
const pnpm = (args: string[]) => exec('pnpm', args, { cwd: REPO, env: ENV, allowFail: true, timeoutMs: 600_000 });
const ok = (r: ExecResult, what: string) => assert.is(r.exitCode, 0, `${what} exited ${r.exitCode}:\n${r.stdout}\n${r.stderr}`);
const none = (problems: string[], what: string) => assert.equal(problems, [], `${what}:\n${problems.join('\n')}`);

test('pnpm turbo run demo -- --config f --bridge x: the flag’s bridge carries both addresses, the container answers pings; turbo run down -- the same flags leaves nothing, and so does a second one', async () => {
  const { root, config: fileConfig } = await testConfig();
  const bridge = `${testPrefix('ctb')}${tag(3)}`;
  const config: Config = { ...fileConfig, bridge };
  const args = ['--config', writeConfigFile(root, fileConfig), '--bridge', bridge];
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    c.add('force teardown (config bridge)', () => forceTeardown(fileConfig, exec));
    const before = await hostSnapshot(exec, config);

    ok(await pnpm(['turbo', 'run', 'demo', '--output-logs=errors-only', '--', ...args]), 'pnpm turbo run demo');
    none(await demoUpProblems(exec, config), 'the demo as the flags say');
    assert.not.ok(await getLink(exec, fileConfig.bridge), `no bridge ${fileConfig.bridge} from the config file`);

    ok(await pnpm(['turbo', 'run', 'down', '--output-logs=errors-only', '--', ...args]), 'pnpm turbo run down');
    none(await demoGoneProblems(exec, config, { before, now: await hostSnapshot(exec, config) }), 'nothing left');
    // down twice in a row: its steps run alongside each other, and host-setup's removes the state folder the
    // others lock in (once a raw ENOENT from image-fetch's lock); the second succeeds and leaves nothing either
    ok(await pnpm(['turbo', 'run', 'down', '--output-logs=errors-only', '--', ...args]), 'a second pnpm turbo run down');
    none(await demoGoneProblems(exec, config, { before, now: await hostSnapshot(exec, config) }), 'nothing left after the second down');
  });
});

test('every step alone through pnpm --filter <step> run up, then each run down in the down order: each one’s effect on the host appears and goes', async () => {
  const { root, config } = await testConfig();
  const file = writeConfigFile(root, config);
  const step = (pkg: string, action: 'up' | 'down') => pnpm(['--filter', `@cni-demo/${pkg}`, 'run', action, '--config', file]);
  const pin = path.join(config.netnsDir, config.id);
  const runDir = path.join(config.stateDir, config.id);
  const conf = path.join(config.confDir, `10-${config.network}.conflist`);
  const eth0 = async () => (await readLinks(exec, { pin, args: ['addr', 'show'], allowFail: true })).find((l) => l.ifname === 'eth0');
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    const before = await hostSnapshot(exec, config);

    ok(await step('host-setup', 'up'), 'host-setup up');
    const br = await getLink(exec, config.bridge);
    assert.equal(
      br?.addrs.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`),
      [`${config.gateway4}/24`, `${config.gateway6}/64`],
      'the bridge with both gateways',
    );
    assert.ok(existsSync(conf), 'network config written');

    ok(await step('image-fetch', 'up'), 'image-fetch up');
    assert.ok(existsSync(path.join(runDir, 'image-fetch.json')), 'image-fetch state');

    ok(await step('runc-bundle', 'up'), 'runc-bundle up');
    assert.is((await runcState(exec, config.runcRoot, config.id))?.status, 'running', 'the container runs');
    assert.ok(isMountPoint(pin), 'its netns is pinned');
    assert.is(await eth0(), undefined, 'no eth0 before cni-attach');

    ok(await step('cni-attach', 'up'), 'cni-attach up');
    const addrs = (await eth0())?.addrs.filter((a) => a.scope === 'global') ?? [];
    assert.is(addrs.length, 2, `eth0 has one address per family: ${JSON.stringify(addrs)}`);
    for (const a of addrs) ok(await exec('ping', [`-${a.family}`, '-c1', '-W2', a.local], { allowFail: true }), `host pings ${a.local}`);
    assert.is(readLeases(config.ipamDataDir, config.network).length, 2, 'two leases');

    ok(await step('verify', 'up'), 'verify up');
    assert.ok(existsSync(path.join(runDir, 'report.json')), 'report written');
    none(await demoUpProblems(exec, config), 'the whole demo up');

    // down in the README's order: DEL, the container, the bridge and config, the image's state, then verify's
    // own files and the leak audit, last
    ok(await step('cni-attach', 'down'), 'cni-attach down');
    assert.is(await eth0(), undefined, 'eth0 gone from the container');
    assert.equal(readLeases(config.ipamDataDir, config.network), [], 'leases released');
    assert.ok(isMountPoint(pin), 'the pin stays until runc-bundle down');
    ok(await step('runc-bundle', 'down'), 'runc-bundle down');
    assert.is(await runcState(exec, config.runcRoot, config.id), undefined, 'container deleted');
    assert.not.ok(existsSync(pin), 'pin removed');
    assert.ok(await getLink(exec, config.bridge), 'the bridge stays until host-setup down');
    ok(await step('host-setup', 'down'), 'host-setup down');
    assert.not.ok(await getLink(exec, config.bridge), 'bridge removed');
    assert.not.ok(existsSync(conf), 'network config removed');
    ok(await step('image-fetch', 'down'), 'image-fetch down');
    assert.not.ok(existsSync(path.join(runDir, 'image-fetch.json')), 'image-fetch state removed');
    assert.ok(existsSync(path.join(runDir, 'report.json')), 'the report stays until verify down');
    ok(await step('verify', 'down'), 'verify down (its leak audit passes)');
    none(await demoGoneProblems(exec, config, { before, now: await hostSnapshot(exec, config) }), 'nothing left');
  });
});

test('scripts/assert-host.mjs (CI’s check around the README demo): up passes on a real up and fails after down; down fails while up and passes after', async () => {
  const { root, config } = await testConfig();
  const file = writeConfigFile(root, config);
  const snap = path.join(mkdtempSync(path.join(os.tmpdir(), 'assert-host-')), 'before.json');
  const script = (args: string[]) => exec(process.execPath, [path.join(REPO, 'scripts', 'assert-host.mjs'), ...args], { allowFail: true });
  const cli = (action: string) =>
    exec(process.execPath, [CNI_DEMO_CLI, action, '--config', file], {
      allowFail: true,
    });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('remove snapshot', () => removeRoot(path.dirname(snap)));
    c.add('force teardown', () => forceTeardown(config, exec));
    ok(await script(['before', snap, '--config', file]), 'before');
    const early = await script(['up', '--config', file]);
    assert.is(early.exitCode, 1, 'up before the demo fails');
    assert.match(early.stderr, new RegExp(`bridge ${config.bridge}: missing`));

    ok(await cli('up'), 'cni-demo up');
    ok(await script(['up', '--config', file]), 'assert up');
    const tooEarly = await script(['down', snap, '--shared-host', '--config', file]);
    assert.is(tooEarly.exitCode, 1, 'down while the demo runs fails');
    assert.match(tooEarly.stderr, new RegExp(`link ${config.bridge} still there`));
    assert.match(tooEarly.stderr, /host differs from before the demo/);

    ok(await cli('down'), 'cni-demo down');
    ok(await script(['down', snap, '--shared-host', '--config', file]), 'assert down');
    const late = await script(['up', '--config', file]);
    assert.is(late.exitCode, 1, 'up after down fails');
    assert.match(late.stderr, /state file .*host-setup\.json missing/);
    assert.is((await script(['down', '--config', file])).exitCode, 2, 'down without a snapshot file is a usage error');
    assert.is(readdirSync(path.dirname(snap)).length, 1);
  });
});

test.run();
