import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Config, createExec, findMasqChains, getLink, names, runcState, STEPS } from '@cni-demo/core';
import {
  descendants,
  failures,
  forceTeardown,
  hostSnapshot,
  lockHolders,
  ownSnapshotDiff,
  type ProcResult,
  removeRoot,
  runScript,
  testConfig,
  waitUntil,
  withCleanup,
  writeConfigFile,
  CNI_DEMO_CLI,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * down against a damaged instance: state gone or corrupt, the container dead, the netns gone, the network
 * config gone. Each time down must succeed, the leak audit must be empty and the host as before.
 */
const exec = createExec();
const cli = (args: string[]) => runScript('cli', 'cni-demo', args);
const ok = (r: ProcResult, what: string) => assert.is(r.code, 0, `${what}: ${failures([r])}`);

async function damaged(name: string, damage: (config: Config) => Promise<void> | void, overrides: Record<string, unknown> = {}) {
  test(`down after: ${name}`, async () => {
    const { root, config } = await testConfig(overrides);
    const before = await hostSnapshot(exec, config);
    const file = writeConfigFile(root, config);
    await withCleanup(async (cl) => {
      cl.add('remove temp root', () => removeRoot(root));
      cl.add('force teardown', () => forceTeardown(config, exec));
      ok(await cli(['up', '--config', file]), 'demo');
      await damage(config);
      ok(await cli(['down', '--config', file]), 'down');
      ok(await runScript('verify', 'leaks', ['--config', file]), 'leak audit');
      ok(await cli(['down', '--config', file]), 'second down');
      assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'host as before');
    });
  });
}

// the five step state files (report.json beside them is verify's output, not state)
const stateFiles = (c: Config) =>
  readdirSync(names(c).runDir)
    .filter((f) => (STEPS as readonly string[]).includes(f.replace(/\.json$/, '')))
    .map((f) => path.join(names(c).runDir, f));

damaged('every state file removed', (c) => {
  const files = stateFiles(c);
  assert.is(files.length, 5);
  for (const f of files) rmSync(f);
});

damaged('every state file corrupt', (c) => {
  for (const f of stateFiles(c)) writeFileSync(f, '{"truncated": ');
});

damaged('the container already dead', async (c) => {
  await exec('runc', ['--root', c.runcRoot, 'kill', c.id, 'KILL']);
  await waitUntil(async () => (await runcState(exec, c.runcRoot, c.id))?.status === 'stopped', `runc to see ${c.id} stopped`);
});

damaged('the netns already gone (DEL without a netns leaves the masquerade chain; we remove it)', async (c) => {
  const chains = await findMasqChains(exec, c.network, [c.id]);
  assert.is(chains.length, 2, 'the bridge plugin made a chain in iptables and one in ip6tables');
  await exec('runc', ['--root', c.runcRoot, 'delete', '--force', c.id]);
  const pin = names(c).netnsPath;
  await exec('umount', [pin]);
  rmSync(pin);
});

damaged('the network config file gone (DEL reads it back from the CNI cache)', (c) => {
  rmSync(names(c).confFile);
});

damaged("the network config and the CNI cache entry gone (DEL uses cni-attach's copy)", (c) => {
  rmSync(names(c).confFile);
  const results = path.join(c.cniCacheDir, 'results');
  for (const f of readdirSync(results)) rmSync(path.join(results, f));
});

test('a bridge made by hand with exactly our addresses is adopted and left in place by down', async () => {
  const { root, config } = await testConfig();
  const file = writeConfigFile(root, config);
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(root));
    cl.add('force teardown', () => forceTeardown(config, exec));
    await exec('ip', ['link', 'add', config.bridge, 'type', 'bridge']);
    await exec('ip', ['addr', 'add', `${config.gateway4}/24`, 'dev', config.bridge]);
    await exec('ip', ['-6', 'addr', 'add', `${config.gateway6}/64`, 'dev', config.bridge, 'nodad']);
    await exec('ip', ['link', 'set', config.bridge, 'up']);
    const before = await hostSnapshot(exec, config);
    ok(await cli(['up', '--config', file]), 'demo on the adopted bridge');
    ok(await cli(['down', '--config', file]), 'down');
    const br = await getLink(exec, config.bridge);
    assert.is(br?.kind, 'bridge', 'bridge left in place');
    assert.ok(
      br?.addrs.some((a) => a.local === config.gateway4),
      'with its address',
    );
    ok(await runScript('verify', 'leaks', ['--config', file]), 'the adopted bridge is no leak');
    assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'host as before');
  });
});

test('two demos with different names run in parallel without interfering', async () => {
  const a = await testConfig();
  const b = await testConfig();
  const before = { a: await hostSnapshot(exec, a.config), b: await hostSnapshot(exec, b.config) };
  const fa = writeConfigFile(a.root, a.config);
  const fb = writeConfigFile(b.root, b.config);
  await withCleanup(async (cl) => {
    for (const x of [a, b]) {
      cl.add('remove temp root', () => removeRoot(x.root));
      cl.add('force teardown', () => forceTeardown(x.config, exec));
    }
    const [ua, ub] = await Promise.all([cli(['up', '--config', fa]), cli(['up', '--config', fb])]);
    ok(ua, 'demo a');
    ok(ub, 'demo b');
    ok(await cli(['down', '--config', fa]), 'down a');
    // b is untouched by a's down: its own checks still pass
    ok(await runScript('verify', 'up', ['--config', fb]), 'b still verifies');
    ok(await cli(['down', '--config', fb]), 'down b');
    for (const f of [fa, fb]) ok(await runScript('verify', 'leaks', ['--config', f]), 'no leaks');
    assert.is(ownSnapshotDiff(before.a, await hostSnapshot(exec, a.config), a.config), '', 'host as before a');
    assert.is(ownSnapshotDiff(before.b, await hostSnapshot(exec, b.config), b.config), '', 'host as before b');
  });
});

test('the same name twice at once: the second waits for the lock, both succeed, state stays whole', async () => {
  const { root, config } = await testConfig();
  const before = await hostSnapshot(exec, config);
  const file = writeConfigFile(root, config);
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(root));
    cl.add('force teardown', () => forceTeardown(config, exec));
    const [r1, r2] = await Promise.all([cli(['up', '--config', file]), cli(['up', '--config', file])]);
    ok(r1, 'first');
    ok(r2, 'second');
    ok(await runScript('verify', 'up', ['--config', file]), 'verify after both');
    ok(await cli(['down', '--config', file]), 'down');
    ok(await runScript('verify', 'leaks', ['--config', file]), 'no leaks');
    assert.not.ok(existsSync(config.stateDir), 'no state left');
    assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'host as before');
  });
});

test('the same name with --lock-wait-ms 0 while a demo of it holds the lock: refused clearly, nothing changed; the first one finishes', async () => {
  const { root, config } = await testConfig();
  const file = writeConfigFile(root, config);
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(root));
    cl.add('force teardown', () => forceTeardown(config, exec));
    const first = spawn(process.execPath, [CNI_DEMO_CLI, 'up', '--config', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let firstErr = '';
    first.stderr.on('data', (d) => (firstErr += d));
    const firstDone = new Promise<number | null>((resolve) => first.on('close', resolve));
    const pid = first.pid ?? 0;
    cl.add('let the first run go on', () => {
      for (const p of [pid, ...descendants(pid)]) signal(p, 'SIGCONT');
    });
    // the event: the kernel lists the first run (or its lock helper) as holding the instance lock; it is then
    // stopped where it is, so it cannot finish before the second has tried
    await waitUntil(
      () => lockHolders(names(config).lockFile).some((h) => h === pid || descendants(pid).includes(h)),
      'the first run to hold the lock',
    );
    const paused = [pid, ...descendants(pid)];
    for (const p of paused) signal(p, 'SIGSTOP');
    const before = await hostSnapshot(exec, config);
    const second = await cli(['up', '--config', file, '--lock-wait-ms', '0']);
    assert.is(second.code, 1);
    assert.ok(second.stderr.includes('in use by process'), second.stderr);
    assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'the refused run changed nothing');
    for (const p of paused) signal(p, 'SIGCONT');
    assert.is(await firstDone, 0, `first: ${firstErr}`);
    ok(await runScript('verify', 'up', ['--config', file]), 'the first run’s demo verifies');
    ok(await cli(['down', '--config', file]), 'down');
  });
});

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

test.run();
