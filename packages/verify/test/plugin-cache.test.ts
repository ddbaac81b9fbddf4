import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PluginExec } from '@cni-demo/cni';
import { type Ctx, type HostSetupState, recordingExec } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PLUGIN_CACHE_FILE, pluginVersions } from '../src/report.js';

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
