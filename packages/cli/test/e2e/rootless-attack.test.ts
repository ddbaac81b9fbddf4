import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Config, createExec, type RuncBundleState, rootlessDir, stepOrder } from '@cni-demo/core';
import {
  type Canaries,
  canarySnapshot,
  type Cleanup,
  createTestUser,
  failures,
  forceTeardown,
  forgeRuncState,
  hostSnapshot,
  makeCanaries,
  ownSnapshotDiff,
  type PlantReport,
  type PlantSpec,
  type ProcResult,
  plantOnce,
  removeRoot,
  runScript,
  startPlanting,
  type TestUser,
  testConfig,
  testPrefix,
  withCleanup,
  writeConfigFile,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * Rootless mode against its own user (issue 14, item 1). A real unprivileged user, the one runc runs as,
 * plants symlinks to root-owned canary files and folders everywhere it can write: before and after every
 * step (each step is its own process, as under turbo), continuously while the steps run, and after a
 * SIGKILL at every fault-injection point. Root must never write, truncate or chown through them: the
 * canaries' owner, mode and hash are unchanged, the pipeline still comes up and goes down, and nothing is
 * left. The user also forges runc's state to name a root process: down must not kill it.
 */
const exec = createExec();
const PREFIX = testPrefix('t');

interface Rig {
  user: TestUser;
  config: Config;
  file: string;
  canaries: Canaries;
  spec: PlantSpec;
  reports: PlantReport[];
}

/** Every name root wrote to in the rootless folder in some version, planted even before it exists. */
function oldNames(config: Config): { files: string[]; dirs: string[] } {
  const rdir = rootlessDir(config);
  const bundle = path.join(rdir, 'bundle');
  return {
    files: ['config.json', 'container.log', 'container.pid', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf'].map((f) =>
      path.join(bundle, f),
    ),
    dirs: [rdir, bundle, path.join(bundle, 'etc'), path.join(rdir, 'image'), path.join(rdir, '.staging')],
  };
}

async function rig(c: Cleanup, replaceDirs = false): Promise<Rig> {
  const user = await createTestUser(PREFIX, exec);
  // cleanups run last-added first: the user goes after the teardown that stops its processes
  c.add('remove test user', () => user.remove());
  const { root, config } = await testConfig({ rootless: true, rootlessUser: user.name });
  // the temp root is 0700: the user must be able to walk to its own folders below it
  chmodSync(root, 0o711);
  c.add('remove temp root', () => removeRoot(root));
  c.add('force teardown', () => forceTeardown(config, exec));
  const canaries = makeCanaries(root);
  const rdir = rootlessDir(config);
  const spec: PlantSpec = {
    walk: [
      path.dirname(rdir),
      config.stateDir,
      config.netnsDir,
      config.confDir,
      config.cniCacheDir,
      config.ipamDataDir,
      config.imageCacheDir,
    ],
    // the unpacked image is the user's by design (container root is the user): replacing it only breaks its own container
    skip: [path.join(rdir, 'image', 'rootfs')],
    canaryFile: canaries.file,
    canaryDir: canaries.dir,
    links: oldNames(config).files,
    dirLinks: oldNames(config).dirs,
    replaceDirs,
  };
  return { user, config, file: writeConfigFile(root, config), canaries, spec, reports: [] };
}

/** Each step as its own process, with a planting pass (as the user) before each and after the last. */
async function stepwise(r: Rig, action: 'up' | 'down', env: Record<string, string> = {}): Promise<ProcResult[]> {
  const out: ProcResult[] = [];
  for (const step of stepOrder(action)) {
    r.reports.push(await plantOnce(r.user, r.spec, exec));
    const p = await runScript(step, action, ['--config', r.file], { env });
    out.push(p);
    if (action === 'up' && p.code !== 0) break;
  }
  r.reports.push(await plantOnce(r.user, r.spec, exec));
  return out;
}

/** What the attacker managed to plant (its walk skips the user's own rootfs): must be nothing. */
function planted(reports: PlantReport[]): string[] {
  return [...new Set(reports.flatMap((x) => x.planted))];
}

/** Running (a zombie waiting for its parent to reap it is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

function assertNothingLeft(r: Rig): void {
  assert.not.ok(existsSync(r.config.stateDir), `state folder removed: ${r.config.stateDir}`);
  assert.not.ok(existsSync(`${r.config.stateDir}-rootless`), 'rootless folders removed');
}

for (const replaceDirs of [false, true]) {
  test(`links planted by the rootless user before, during and after every step are never followed by root (${replaceDirs ? 'folders too' : 'files'})`, async () => {
    const hostBefore = await hostSnapshot(exec);
    let config: Config | undefined;
    await withCleanup(async (c) => {
      const r = await rig(c, replaceDirs);
      config = r.config;
      const canariesBefore = canarySnapshot(r.canaries);
      const loop = startPlanting(r.user, r.spec);
      c.add('stop the planter', async () => void (await loop.stop()));
      const up = await stepwise(r, 'up');
      assert.is(failures(up), '', 'the demo comes up with the attacker at work');
      const bundle = JSON.parse(readFileSync(path.join(r.config.stateDir, r.config.id, 'runc-bundle.json'), 'utf8')) as RuncBundleState;
      assert.is(bundle.rootless?.uid, r.user.uid, 'rootless as the test user');
      // what root writes is root's, in folders only root can change
      for (const p of [
        rootlessDir(r.config),
        bundle.bundleDir,
        path.join(bundle.bundleDir, 'config.json'),
        bundle.etcFiles?.resolvConf ?? '',
      ]) {
        const st = lstatSync(p);
        assert.ok(!st.isSymbolicLink() && st.uid === 0, `${p} is root's, not a link (uid ${st.uid})`);
      }
      const down = await stepwise(r, 'down');
      assert.is(failures(down), '', 'down succeeds');
      const continuous = await loop.stop();
      assert.ok(continuous.passes > 10, `the planter ran throughout (${continuous.passes} passes)`);
      const attempts = [...r.reports, continuous].reduce((n, x) => n + x.refused, 0);
      assert.ok(attempts > 0, 'the attacker tried');
      assert.equal(planted([...r.reports, continuous]), [], 'the user could plant nothing where root writes');
      assert.is(canarySnapshot(r.canaries), canariesBefore, 'canaries unchanged: owner, mode, content');
      assertNothingLeft(r);
    });
    if (config) assert.is(ownSnapshotDiff(hostBefore, await hostSnapshot(exec), config), '', 'host as before');
  });
}

const POINTS: { point: string; phase: 'up' | 'down' }[] = [
  { point: 'host-setup:after-bridge', phase: 'up' },
  { point: 'host-setup:after-state', phase: 'up' },
  { point: 'image-fetch:before-state', phase: 'up' },
  { point: 'runc-bundle:after-create', phase: 'up' },
  { point: 'runc-bundle:before-state', phase: 'up' },
  { point: 'cni-attach:before-add', phase: 'up' },
  { point: 'cni-attach:after-add', phase: 'up' },
  { point: 'verify:before-state', phase: 'up' },
  { point: 'cni-attach:down-after-del', phase: 'down' },
  { point: 'runc-bundle:down-after-delete', phase: 'down' },
  { point: 'host-setup:down-after-conf', phase: 'down' },
];

for (const { point, phase } of POINTS) {
  test(`links planted after a SIGKILL at ${point} (rootless) are never followed; the next demo and down finish`, async () => {
    await withCleanup(async (c) => {
      const r = await rig(c);
      const canariesBefore = canarySnapshot(r.canaries);
      const loop = startPlanting(r.user, r.spec);
      c.add('stop the planter', async () => void (await loop.stop()));
      if (phase === 'down') assert.is(failures(await stepwise(r, 'up')), '', 'demo before the faulty down');
      const killed = await stepwise(r, phase, { CNI_FAULT_AT: point });
      assert.ok(
        killed.some((p) => p.signal === 'SIGKILL'),
        `a step was killed at ${point}: ${killed.map((p) => p.code ?? p.signal).join(',')}`,
      );
      assert.is(failures(await stepwise(r, 'up')), '', 'demo after the crash');
      assert.is(failures(await stepwise(r, 'down')), '', 'down after the demo');
      const audit = await runScript('verify', 'leaks', ['--config', r.file]);
      assert.is(audit.code, 0, `leak audit: ${audit.stderr}`);
      const continuous = await loop.stop();
      assert.equal(planted([...r.reports, continuous]), [], 'the user could plant nothing where root writes');
      assert.is(canarySnapshot(r.canaries), canariesBefore, 'canaries unchanged');
      assertNothingLeft(r);
    });
  });
}

test('a forged runc state naming a root process: down runs runc as the user, the root process lives, the container is still removed', async () => {
  await withCleanup(async (c) => {
    const r = await rig(c);
    const victim = spawn('sleep', ['600'], { stdio: 'ignore' });
    c.add('stop the victim', () => void victim.kill('SIGKILL'));
    const pid = victim.pid ?? 0;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    assert.is(failures(await stepwise(r, 'up')), '', 'demo');
    const bundle = JSON.parse(readFileSync(path.join(r.config.stateDir, r.config.id, 'runc-bundle.json'), 'utf8')) as RuncBundleState;
    await forgeRuncState(r.user, { stateFile: path.join(r.config.runcRoot, r.config.id, 'state.json'), pid, start }, exec);
    const down = await stepwise(r, 'down');
    assert.is(failures(down), '', 'down succeeds');
    assert.ok(alive(pid) && victim.exitCode === null && victim.signalCode === null, 'the root process was not killed');
    assert.not.ok(alive(bundle.pid), "the container's own process is gone");
    assert.not.ok(existsSync(path.join(r.config.runcRoot, r.config.id)), "runc's state for it is gone");
    assertNothingLeft(r);
  });
});

test.run();
