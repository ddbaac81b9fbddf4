import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type CniAttachState,
  type Config,
  createExec,
  getLink,
  type ImageFetchState,
  leaseDir,
  pinKind,
  readLeases,
  UserError,
} from '@cni-demo/core';
import { forceTeardown, hostSnapshot, ownSnapshotDiff, removeRoot, type TestEnv, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../../src/pipeline.js';

/**
 * down acts only on what its own instance made, up never takes over what another made (issue 14, item 2).
 * Every case is real: instances brought up on this host with the test's own names, sharing the roots
 * (state, runc, netns pins, CNI cache, leases) as instances on one host do, and objects made by hand.
 */
const exec = createExec();

/** The roots and network one instance shares with another on the same host. */
function shared(c: Config): Record<string, unknown> {
  const keys = [
    'network',
    'bridge',
    'subnet4',
    'gateway4',
    'subnet6',
    'gateway6',
    'confDir',
    'stateDir',
    'imageCacheDir',
    'cniCacheDir',
    'ipamDataDir',
    'runcRoot',
    'netnsDir',
  ] as const;
  return Object.fromEntries(keys.map((k) => [k, c[k]]));
}

/** A second instance on the first one's roots (its own temp root is not used). */
async function sibling(a: TestEnv, overrides: Record<string, unknown>): Promise<TestEnv> {
  const b = await testConfig({ ...shared(a.config), ...overrides });
  removeRoot(b.root);
  return { ...b, root: a.root };
}

async function refusal(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('expected up to be refused');
}

const linkIn = async (pin: string, ifname: string) =>
  (await exec('nsenter', [`--net=${pin}`, 'ip', 'link', 'show', 'dev', ifname], { allowFail: true })).exitCode === 0;

test('down --id X leaves a separately started instance X-1 on the same network alone: its eth0, lease, cache entry, bridge', async () => {
  const a = await testConfig();
  const b = await sibling(a, { id: `${a.config.id}-1` });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(a.root));
    c.add('force teardown of X', () => forceTeardown(a.config, exec));
    c.add('force teardown of X-1', () => forceTeardown(b.config, exec));
    await pipelineUp(a.ctx);
    await pipelineUp(b.ctx);
    const bid = b.config.id;
    const pin = path.join(b.config.netnsDir, bid);
    const att = b.ctx.state.read<CniAttachState>('cni-attach');
    assert.ok(att?.ipv4 && (await linkIn(pin, b.config.ifname)), 'X-1 is attached');

    // X made the bridge, but X-1's container is on it: X's down leaves it, and its leak audit says so
    const e = await pipelineDown(a.ctx).then(
      () => undefined,
      (err: Error) => err,
    );
    assert.match(String(e), new RegExp(`bridge ${a.config.bridge} \\(made by this instance\\)`));
    assert.ok(await linkIn(pin, b.config.ifname), "X-1's eth0 is still there");
    assert.ok(
      readLeases(b.config.ipamDataDir, b.config.network).some((l) => l.containerId === bid && l.address === att?.ipv4),
      "X-1's lease is still there",
    );
    // libcni's layout: <cache>/results/<network>-<container>-<ifname>
    const entry = path.join(b.config.cniCacheDir, 'results', `${b.config.network}-${bid}-${b.config.ifname}`);
    assert.ok(existsSync(entry), "X-1's cache entry is still there");
    assert.ok(await getLink(exec, a.config.bridge), 'the shared bridge is still there');
    assert.is((await exec('runc', ['--root', b.config.runcRoot, 'state', bid])).exitCode, 0, "X-1's container still runs");

    await pipelineDown(b.ctx);
    // X's host-setup left the bridge while X-1 used it; its second down removes it
    await pipelineDown(a.ctx);
    assert.not.ok(await getLink(exec, a.config.bridge));
    assert.not.ok(
      existsSync(leaseDir(a.config.ipamDataDir, a.config.network)) && readLeases(a.config.ipamDataDir, a.config.network).length > 0,
    );
  });
});

test("an id that would collide with another instance's containers is refused at up, in both orders, before anything is made", async () => {
  for (const order of ['many first', 'single first'] as const) {
    const a = await testConfig({ containers: 2 });
    // its own network and bridge: only the container ids collide
    const b = await testConfig({
      id: `${a.config.id}-1`,
      stateDir: a.config.stateDir,
      runcRoot: a.config.runcRoot,
      netnsDir: a.config.netnsDir,
      imageCacheDir: a.config.imageCacheDir,
    });
    await withCleanup(async (c) => {
      c.add('remove temp roots', () => {
        removeRoot(a.root);
        removeRoot(b.root);
      });
      c.add('force teardown of X', () => forceTeardown(a.config, exec));
      c.add('force teardown of X-1', () => forceTeardown(b.config, exec));
      const [first, second] = order === 'many first' ? [a, b] : [b, a];
      await pipelineUp(first.ctx);
      const before = await hostSnapshot(exec);
      const e = await refusal(pipelineUp(second.ctx));
      assert.match(e.message, new RegExp(`container id ${b.config.id} belongs to instance ${first.config.id}`));
      assert.is(ownSnapshotDiff(before, await hostSnapshot(exec), second.config), '', 'nothing made');
      assert.not.ok(await getLink(exec, second.config.bridge), 'no bridge made');
      await pipelineDown(second.ctx);
      await pipelineDown(first.ctx);
    });
  }
});

/** A runc container named `id` made by hand (not by cni-demo), from the image's rootfs, read-only. */
async function handMadeContainer(runcRoot: string, id: string, dir: string, rootfs: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await exec('runc', ['spec', '--bundle', dir]);
  const spec = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as {
    process: { args: string[]; terminal: boolean };
    root: { path: string; readonly: boolean };
  };
  spec.process.args = ['sleep', '600'];
  spec.process.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
  const devnull = openSync('/dev/null', 'w');
  try {
    await exec('runc', ['--root', runcRoot, 'create', '--bundle', dir, id], { output: { to: devnull, tail: async () => '' } });
  } finally {
    closeSync(devnull);
  }
  await exec('runc', ['--root', runcRoot, 'start', id]);
}

test('down of an id never brought up touches nobody else: a container, a netns pin with an eth0, a plain file of the same name; up refuses them', async () => {
  const d = await testConfig();
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(d.root));
    c.add('force teardown of D', () => forceTeardown(d.config, exec));
    // an instance whose network the others share: its conf is there for a DEL to use
    await pipelineUp(d.ctx);
    const y = await sibling(d, { id: `${d.config.id}y` });
    const z = await sibling(d, { id: `${d.config.id}z` });
    const yPin = path.join(d.config.netnsDir, y.config.id);
    const zPin = path.join(d.config.netnsDir, z.config.id);
    c.add('remove the hand-made objects', async () => {
      await exec('runc', ['--root', d.config.runcRoot, 'delete', '--force', y.config.id], { allowFail: true });
      await exec('umount', [yPin], { allowFail: true });
    });
    const rootfs = d.ctx.state.read<ImageFetchState>('image-fetch')?.rootfsDir ?? '';
    await handMadeContainer(d.config.runcRoot, y.config.id, path.join(d.root, 'by-hand', 'bundle'), rootfs);
    writeFileSync(yPin, '');
    await exec('unshare', [`--net=${yPin}`, 'true']);
    await exec('nsenter', [`--net=${yPin}`, 'ip', 'link', 'add', y.config.ifname, 'type', 'veth', 'peer', 'name', 'peer0']);
    writeFileSync(zPin, 'not a pin: somebody else keeps notes here\n');

    await pipelineDown(y.ctx);
    await pipelineDown(z.ctx);
    assert.is((await exec('runc', ['--root', d.config.runcRoot, 'state', y.config.id])).exitCode, 0, 'the hand-made container still runs');
    assert.is(pinKind(yPin), 'netns', 'the hand-made pin is still mounted');
    assert.ok(await linkIn(yPin, y.config.ifname), 'no DEL ran in it: its eth0 is there');
    assert.is(readFileSync(zPin, 'utf8'), 'not a pin: somebody else keeps notes here\n', 'the plain file is untouched');

    const ey = await refusal(pipelineUp(y.ctx));
    assert.match(ey.message, new RegExp(`a runc container named ${y.config.id} exists .*not by this instance`));
    assert.match(ey.message, /no record of making it/);
    const ez = await refusal(pipelineUp(z.ctx));
    assert.match(ez.message, /no record of making it/);
    assert.is((await exec('runc', ['--root', d.config.runcRoot, 'state', y.config.id])).exitCode, 0, 'up did not delete it either');
    assert.is(readFileSync(zPin, 'utf8'), 'not a pin: somebody else keeps notes here\n');
    await pipelineDown(y.ctx);
    await pipelineDown(z.ctx);
    await pipelineDown(d.ctx);
  });
});

test.run();
