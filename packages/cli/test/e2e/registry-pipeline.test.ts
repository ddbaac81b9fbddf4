import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CniAttachState, createExec, type ImageFetchState, type RuncBundleState, type VerifyState } from '@cni-demo/core';
import { buildBuiltinBusybox } from '@cni-demo/image-fetch';
import { forceTeardown, removeRoot, startRegistry, type TestRegistry, testConfig, withCleanup } from '@cni-demo/testkit';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../../src/pipeline.js';

const exec = createExec();
const PORTS = Array.from({ length: 10 }, (_, i) => 5411 + i);
const S = { work: '', layout: '', digest: '', dockerTar: '' } as {
  registry: TestRegistry;
  work: string;
  layout: string;
  digest: string;
  dockerTar: string;
};

const P = suite('pipeline with registry and archive images');

P.before(async () => {
  S.work = mkdtempSync(path.join(os.tmpdir(), 't4-pipe-'));
  S.layout = path.join(S.work, 'layout');
  S.registry = await startRegistry(PORTS);
  try {
    const { ctx, root } = await testConfig();
    await buildBuiltinBusybox(ctx, S.layout, 'v1');
    removeRoot(root);
    const file = path.join(S.work, 'digest');
    await exec('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--digestfile',
      file,
      `oci:${S.layout}:v1`,
      `docker://${S.registry.host}/t4/busybox:v1`,
    ]);
    S.digest = readFileSync(file, 'utf8').trim();
    S.dockerTar = path.join(S.work, 'busybox-docker.tar');
    await exec('skopeo', ['copy', '--quiet', `oci:${S.layout}:v1`, `docker-archive:${S.dockerTar}:t4/busybox:v1`]);
  } catch (e) {
    await S.registry.stop();
    throw e;
  }
});

P.after(async () => {
  await S.registry?.stop();
  rmSync(S.work, { recursive: true, force: true });
});

/** Inside the container, as verify does it. */
async function inside(runcRoot: string, id: string, ...args: string[]): Promise<string> {
  return (await exec('runc', ['--root', runcRoot, 'exec', id, ...args])).stdout;
}

async function runImage(image: string, extra: Record<string, unknown> = {}) {
  const { root, config, ctx } = await testConfig({ image, registryTlsVerify: false, ...extra });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    await pipelineUp(ctx);
    const img = ctx.state.read<ImageFetchState>('image-fetch');
    const bundle = ctx.state.read<RuncBundleState>('runc-bundle');
    const att = ctx.state.read<CniAttachState>('cni-attach');
    assert.ok(ctx.state.read<VerifyState>('verify')?.ok, 'verify passed');
    // /etc/hosts and /etc/resolv.conf come from the CNI result, written by us after the ADD
    const hosts = await inside(config.runcRoot, config.id, 'cat', '/etc/hosts');
    assert.ok(hosts.includes(`${att?.ipv4}\t${config.id}`), `hosts names the IPv4 address: ${hosts}`);
    assert.ok(hosts.includes(`${att?.ipv6}\t${config.id}`), `hosts names the IPv6 address: ${hosts}`);
    const resolv = await inside(config.runcRoot, config.id, 'cat', '/etc/resolv.conf');
    assert.is(resolv, readFileSync(bundle?.etcFiles?.resolvConf ?? '', 'utf8').trimEnd());
    assert.is((await inside(config.runcRoot, config.id, 'hostname')).trim(), config.id);
    assert.not.ok(
      existsSync(path.join(img?.rootfsDir ?? '', 'etc/hosts')) &&
        readFileSync(path.join(img?.rootfsDir ?? '', 'etc/hosts'), 'utf8').includes(att?.ipv4 ?? '-'),
      'the rootfs itself is untouched',
    );
    const cmdline = readFileSync(`/proc/${bundle?.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    await pipelineDown(ctx);
    assert.not.ok(existsSync(config.stateDir), 'state removed');
    assert.ok(existsSync(img?.cacheEntry ?? ''), 'the cache stays');
    return { img, cmdline };
  });
}

P('a registry image pulled by digest runs through the whole pipeline, with /etc files from the CNI result', async () => {
  await runImage(`${S.registry.host}/t4/busybox@${S.digest}`);
});

P('a docker-archive tarball runs the same way, and the cmd override replaces the image Cmd', async () => {
  let seen: string[] = [];
  const { root, config, ctx } = await testConfig({ image: `docker-archive:${S.dockerTar}`, cmd: '["/bin/sleep","7777777"]' });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    await pipelineUp(ctx);
    assert.ok(ctx.state.read<VerifyState>('verify')?.ok, 'verify passed');
    const pid = ctx.state.read<RuncBundleState>('runc-bundle')?.pid;
    seen = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    await pipelineDown(ctx);
  });
  assert.equal(seen, ['/bin/sleep', '7777777']);
});

P('rootless: runc runs as an unprivileged user in a user namespace; only host-setup and CNI are privileged', async () => {
  const user = `t4r${Math.random().toString(16).slice(2, 8)}`;
  await exec('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
  try {
    const { root, config, ctx } = await testConfig({
      image: `${S.registry.host}/t4/busybox@${S.digest}`,
      registryTlsVerify: false,
      rootless: true,
      rootlessUser: user,
    });
    // the temp root is 0700: the user must be able to walk to its own folders below it
    chmodSync(root, 0o711);
    const uid = Number((await exec('id', ['-u', user])).stdout.trim());
    await withCleanup(async (c) => {
      c.add('remove temp root', () => removeRoot(root));
      c.add('force teardown', () => forceTeardown(config, exec));
      await pipelineUp(ctx);
      const v = ctx.state.read<VerifyState>('verify');
      assert.ok(v?.ok, `verify passed: ${JSON.stringify(v?.checks.filter((x) => !x.ok))}`);
      const b = ctx.state.read<RuncBundleState>('runc-bundle');
      assert.is(b?.rootless?.uid, uid);
      const status = readFileSync(`/proc/${b?.pid}/status`, 'utf8');
      assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s`, 'm'), 'the container process runs as the user on the host');
      assert.match(readFileSync(`/proc/${b?.pid}/uid_map`, 'utf8'), new RegExp(`^\\s*0\\s+${uid}\\s+1\\s*$`), 'container root is the user');
      const rootfs = ctx.state.read<ImageFetchState>('image-fetch')?.rootfsDir ?? '';
      assert.is(
        (await exec('stat', ['-c', '%u', path.join(rootfs, 'bin/busybox')])).stdout.trim(),
        String(uid),
        'the rootfs belongs to the user',
      );
      assert.is((await exec('stat', ['-c', '%u', config.runcRoot])).stdout.trim(), String(uid), 'runc state belongs to the user');
      await pipelineDown(ctx);
      assert.not.ok(existsSync(`${config.stateDir}-rootless`), 'rootless folders removed');
    });
  } finally {
    await exec('userdel', [user]);
  }
});

P.run();
