import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Ctx, type HostSetupState, recordingExec } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PLUGIN_CACHE_FILE, pluginVersions } from '../src/report.js';

test('plugin VERSION answers are cached by binary identity: no process on a rerun, probed again when the binary changes', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'verify-plugin-cache-'));
  try {
    const dir = path.join(root, 'plugins');
    const cacheDir = path.join(root, 'cache');
    const confFile = path.join(root, 'net.conflist');
    writeFileSync(confFile, JSON.stringify({ cniVersion: '1.0.0', plugins: [{ type: 't6p', ipam: { type: 't6i' } }] }));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    for (const p of ['t6p', 't6i']) writeFileSync(path.join(dir, p), '#!/bin/sh\n', { mode: 0o755 });
    // the plugins are not run: the recording exec answers VERSION (and dpkg knows nothing of them)
    const exec = recordingExec((argv) =>
      argv[0]?.startsWith(dir)
        ? { stdout: JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0'] }) }
        : { exitCode: 1 },
    );
    const ctx = { exec, config: { imageCacheDir: cacheDir } } as unknown as Ctx;
    const host = { confFile, pluginDirs: [dir] } as unknown as HostSetupState;
    const probes = () => exec.calls.filter((c) => c.argv[0]?.startsWith(dir)).map((c) => path.basename(c.argv[0] ?? ''));

    const first = await pluginVersions(ctx, host);
    assert.equal(
      first.map((p) => [p.type, p.supportedVersions]),
      [
        ['t6p', ['0.4.0', '1.0.0']],
        ['t6i', ['0.4.0', '1.0.0']],
      ],
    );
    assert.equal(probes().sort(), ['t6i', 't6p']);
    assert.equal(exec.calls.find((c) => c.argv[0]?.endsWith('t6p'))?.opts.input, JSON.stringify({ cniVersion: '1.0.0' }));

    exec.calls.length = 0;
    const again = await pluginVersions(ctx, host);
    assert.equal(again, first);
    assert.equal(exec.calls, [], 'nothing run: both answers from the cache');

    // a replaced binary (new mtime) is asked again; the other one is not
    utimesSync(path.join(dir, 't6i'), new Date(), new Date(Date.now() - 60_000));
    exec.calls.length = 0;
    await pluginVersions(ctx, host);
    assert.equal(probes(), ['t6i']);

    // a cache file that is not ours is ignored, not trusted
    writeFileSync(path.join(cacheDir, PLUGIN_CACHE_FILE), '[1,2,3]');
    exec.calls.length = 0;
    await pluginVersions(ctx, host);
    assert.equal(probes().sort(), ['t6i', 't6p']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
