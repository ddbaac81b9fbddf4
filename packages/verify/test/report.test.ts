import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dpkgOwnersFromLists, latestTimings, pluginTypes } from '../src/report.js';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import type { PluginExec } from '@cni-demo/cni';
import { type Ctx, type HostSetupState, recordingExec } from '@cni-demo/core';
import { PLUGIN_CACHE_FILE, pluginVersions } from '../src/report.js';

test('latestTimings keeps this run: the newest of each step since the newest host-setup up, in start order', () => {
  const t = (step: string, startedAt: string, durationMs: number) => ({ step, action: 'up' as const, startedAt, durationMs, ok: true });
  const got = latestTimings([
    t('host-setup', '2026-01-01T00:00:00Z', 1),
    t('verify', '2026-01-01T00:00:02Z', 9),
    t('host-setup', '2026-01-01T00:00:05Z', 3),
    t('image-fetch', '2026-01-01T00:00:06Z', 2),
    t('image-fetch', '2026-01-01T00:00:07Z', 4),
  ]);
  assert.equal(
    got.map((x) => [x.step, x.durationMs]),
    [
      ['host-setup', 3],
      ['image-fetch', 4],
    ],
  );
  // a verify run alone later still counts: it is after the run's start
  assert.equal(latestTimings([t('verify', '2026-01-01T00:00:02Z', 9)]).length, 1);
});

test('pluginTypes lists each plugin and its ipam once, in order', () => {
  assert.equal(pluginTypes({ plugins: [{ type: 'bridge', ipam: { type: 'host-local' } }, { type: 'portmap' }, { type: 'bridge' }] }), [
    'bridge',
    'host-local',
    'portmap',
  ]);
  assert.equal(pluginTypes({}), []);
});

test('dpkgOwnersFromLists names the package of each file from CNI-looking lists only, arch suffix dropped', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verify-dpkg-'));
  try {
    writeFileSync(
      path.join(dir, 'containernetworking-plugins:amd64.list'),
      '/.\n/usr/lib/cni\n/usr/lib/cni/bridge\n/usr/lib/cni/host-local\n',
    );
    writeFileSync(path.join(dir, 'coreutils.list'), '/usr/lib/cni/portmap\n');
    writeFileSync(path.join(dir, 'containernetworking-plugins.md5sums'), 'x  usr/lib/cni/portmap\n');
    const owners = dpkgOwnersFromLists(['/usr/lib/cni/bridge', '/usr/lib/cni/portmap', '/usr/lib/cni/host'], dir);
    assert.equal([...owners], [['/usr/lib/cni/bridge', 'containernetworking-plugins']]);
    assert.equal(dpkgOwnersFromLists(['/usr/lib/cni/bridge'], path.join(dir, 'missing')).size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dpkgOwnersFromLists agrees with dpkg-query -S on this machine for the Debian plugins', () => {
  const bins = ['/usr/lib/cni/bridge', '/usr/lib/cni/host-local'];
  const r = spawnSync('dpkg-query', ['-S', ...bins], { encoding: 'utf8' });
  assert.is(r.status, 0, `dpkg-query -S failed (is containernetworking-plugins installed?): ${r.stderr}`);
  const expected = new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(l.indexOf(': ') + 2), l.split(':')[0] as string] as const),
  );
  assert.equal(dpkgOwnersFromLists(bins), expected);
});

test("plugins' version answers (the runtime's version call) are cached by binary identity: none asked on a rerun, asked again when the binary changes", async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'verify-plugin-cache-'));
  try {
    const dir = path.join(root, 'plugins');
    const cacheDir = path.join(root, 'cache');
    const confFile = path.join(root, 'net.conflist');
    writeFileSync(confFile, JSON.stringify({ cniVersion: '1.0.0', plugins: [{ type: 't6p', ipam: { type: 't6i' } }] }));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    for (const p of ['t6p', 't6i']) writeFileSync(path.join(dir, p), '#!/bin/sh\n', { mode: 0o755 });
    // the plugins are not run: the runtime's plugin exec is a recording one that answers VERSION (dpkg knows nothing of them)
    const asked: { plugin: string; command: string | undefined }[] = [];
    const pluginExec: PluginExec = async (req) => {
      asked.push({ plugin: path.basename(req.pluginPath), command: req.env.CNI_COMMAND });
      return {
        exitCode: 0,
        signal: null,
        stdout: JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0'] }),
        stderr: '',
        timedOut: false,
      };
    };
    const exec = recordingExec(() => ({ exitCode: 1 }));
    const ctx = { exec, config: { imageCacheDir: cacheDir } } as unknown as Ctx;
    const host = { confFile, pluginDirs: [dir] } as unknown as HostSetupState;
    const probes = () => asked.splice(0).map((a) => a.plugin);

    const first = await pluginVersions(ctx, host, pluginExec);
    assert.equal(
      first.map((p) => [p.type, p.supportedVersions]),
      [
        ['t6p', ['0.4.0', '1.0.0']],
        ['t6i', ['0.4.0', '1.0.0']],
      ],
    );
    assert.equal(
      asked.map((a) => a.command),
      ['VERSION', 'VERSION'],
    );
    assert.equal(probes().sort(), ['t6i', 't6p']);

    exec.calls.length = 0;
    const again = await pluginVersions(ctx, host, pluginExec);
    assert.equal(again, first);
    assert.equal(probes(), [], 'no plugin asked: both answers from the cache');
    assert.equal(exec.calls, [], 'no dpkg either');

    // a replaced binary (new mtime) is asked again; the other one is not
    utimesSync(path.join(dir, 't6i'), new Date(), new Date(Date.now() - 60_000));
    await pluginVersions(ctx, host, pluginExec);
    assert.equal(probes(), ['t6i']);

    // a cache file that is not ours is ignored, not trusted
    writeFileSync(path.join(cacheDir, PLUGIN_CACHE_FILE), '[1,2,3]');
    await pluginVersions(ctx, host, pluginExec);
    assert.equal(probes().sort(), ['t6i', 't6p']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
