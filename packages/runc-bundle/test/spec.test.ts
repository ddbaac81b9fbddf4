import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderHosts, renderResolvConf, runcCommand, UserError, defaults } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mountEtcFiles, prepareEtcFiles } from '../src/etc-files.js';
import { applyRootless } from '../src/rootless.js';
import { applyImage, type RuntimeSpec } from '../src/spec.js';
import { parseCmd, resolveImageUser } from '../src/user.js';

const base = (): RuntimeSpec => ({
  process: {
    terminal: true,
    user: { uid: 0, gid: 0 },
    args: ['sh'],
    env: [],
    cwd: '/',
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
  },
  root: { path: 'rootfs', readonly: true },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], resources: { devices: [] } },
  mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
});

function rootfs(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't4-rootfs-'));
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

test('Entrypoint + Cmd, Env, WorkingDir, User; the cmd override replaces Cmd and keeps Entrypoint', () => {
  const img = { Entrypoint: ['/init'], Cmd: ['serve'], Env: ['A=1'], WorkingDir: '/srv' };
  const s = applyImage(base(), img, { rootfs: '/r', hostname: 'h', user: { uid: 7, gid: 8, additionalGids: [9] } });
  assert.equal(s.process.args, ['/init', 'serve']);
  assert.equal(s.process.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1']);
  assert.is(s.process.cwd, '/srv');
  assert.equal(s.process.user, { uid: 7, gid: 8, additionalGids: [9] });
  assert.is(s.process.terminal, false);
  assert.ok(s.process.capabilities?.bounding?.includes('CAP_NET_RAW'));
  assert.ok(s.linux.namespaces.some((n) => n.type === 'network'));
  const o = applyImage(base(), img, { rootfs: '/r', hostname: 'h', cmd: ['sleep', '1'] });
  assert.equal(o.process.args, ['/init', 'sleep', '1']);
});

test('parseCmd: words or a JSON array; bad JSON is a UserError on the cmd field', () => {
  assert.is(parseCmd(''), undefined);
  assert.equal(parseCmd('sleep  infinity'), ['sleep', 'infinity']);
  assert.equal(parseCmd('["sh","-c","sleep 1d"]'), ['sh', '-c', 'sleep 1d']);
  for (const bad of ['[1,2]', '[]', '["a"']) {
    try {
      parseCmd(bad);
      assert.unreachable(bad);
    } catch (e) {
      assert.instance(e, UserError);
      assert.is((e as UserError).field, 'cmd');
    }
  }
});

test("User is resolved in the image's own passwd and group", () => {
  const dir = rootfs({
    'etc/passwd': 'root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n',
    'etc/group': 'root:x:0:\nwww-data:x:33:\nlog:x:4:web\n',
  });
  try {
    assert.equal(resolveImageUser(dir, undefined), { uid: 0, gid: 0 });
    assert.equal(resolveImageUser(dir, 'web'), { uid: 33, gid: 33, additionalGids: [4] });
    assert.equal(resolveImageUser(dir, 'web:root'), { uid: 33, gid: 0, additionalGids: [4] });
    assert.equal(resolveImageUser(dir, '1000:1000'), { uid: 1000, gid: 1000 });
    assert.equal(resolveImageUser(dir, '33'), { uid: 33, gid: 33, additionalGids: [4] });
    assert.throws(
      () => resolveImageUser(dir, 'nobody'),
      (e: unknown) => e instanceof UserError,
    );
    assert.throws(
      () => resolveImageUser(dir, 'web:nogroup'),
      (e: unknown) => e instanceof UserError,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a symlinked /etc/passwd in the image is not followed to the host's", () => {
  const dir = rootfs({});
  mkdirSync(path.join(dir, 'etc'));
  symlinkSync('/etc/passwd', path.join(dir, 'etc/passwd'));
  try {
    assert.throws(
      () => resolveImageUser(dir, 'root'),
      (e: unknown) => e instanceof UserError,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rootless: container root maps to the user, no cgroup limits, no rlimits, runc through setpriv', () => {
  const u = { name: 't4u', uid: 1234, gid: 2345, home: '/' };
  const s = applyRootless(base(), u);
  assert.equal(s.linux.uidMappings, [{ containerID: 0, hostID: 1234, size: 1 }]);
  assert.equal(s.linux.gidMappings, [{ containerID: 0, hostID: 2345, size: 1 }]);
  assert.ok(s.linux.namespaces.some((n) => n.type === 'user'));
  assert.is(s.linux.resources, undefined);
  assert.is(s.process.rlimits, undefined);
  const config = { ...defaults(), runcRoot: '/run/user/1234/runc' };
  assert.equal(runcCommand(config, u, 'start', 'x'), [
    'setpriv',
    ['--reuid', '1234', '--regid', '2345', '--clear-groups', '--', 'runc', '--root', '/run/user/1234/runc', 'start', 'x'],
  ]);
  assert.equal(runcCommand(config, undefined, 'start', 'x'), ['runc', ['--root', '/run/user/1234/runc', 'start', 'x']]);
});

test('/etc files live in the bundle and are bind-mounted over the image', () => {
  const bundle = mkdtempSync(path.join(os.tmpdir(), 't4-bundle-'));
  try {
    const files = prepareEtcFiles(bundle, 'box');
    const s = mountEtcFiles(base(), bundle, files);
    const mounts = s.mounts as { destination: string; source: string; type: string }[];
    assert.equal(
      mounts.filter((m) => m.type === 'bind').map((m) => [m.destination, m.source]),
      [
        ['/etc/hostname', path.join(bundle, 'etc/hostname')],
        ['/etc/hosts', path.join(bundle, 'etc/hosts')],
        ['/etc/resolv.conf', path.join(bundle, 'etc/resolv.conf')],
      ],
    );
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
});

test('resolv.conf and hosts from a CNI result', () => {
  const result = {
    ips: [{ address: '10.1.0.2/24' }, { address: 'fd00::2/64' }],
    dns: { nameservers: ['10.1.0.1'], domain: 'lab', search: ['lab', 'corp'], options: ['ndots:2'] },
  };
  const r = renderResolvConf(result);
  assert.match(r, /^domain lab$/m);
  assert.match(r, /^search lab corp$/m);
  assert.match(r, /^nameserver 10\.1\.0\.1$/m);
  assert.match(r, /^options ndots:2$/m);
  assert.not.match(renderResolvConf({}), /^nameserver/m);
  const h = renderHosts('box', result);
  assert.match(h, /^10\.1\.0\.2\tbox$/m);
  assert.match(h, /^fd00::2\tbox$/m);
  assert.match(h, /^127\.0\.0\.1\tlocalhost$/m);
});

test.run();
