// What is read of a plugin's output is bounded: a FAKE plugin that tries to print hundreds of MB is killed
// with its whole process group, the runtime gets a clear CNI error, and its memory stays small.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniRuntime, confFromBytes, MAX_PLUGIN_OUTPUT } from '../src/index.js';
import { waitUntil } from '@cni-demo/testkit';
import { rejects } from './fake-env.js';

const TOOL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../scripts/cni-tool.mjs');
const FLOOD_MB = 700;

const root = mkdtempSync(path.join(os.tmpdir(), 'cni-flood-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const bin = path.join(root, 'bin');
mkdirSync(bin);
// FAKE plugin: records its pid and a grandchild's (a `sleep` holding its stdout, as a stuck helper would),
// then writes FLOOD_MB MiB to the stream named by FAKE_FLOOD_TO, in 1 MiB chunks
writeFileSync(
  path.join(bin, 'fake-flood'),
  `#!${process.execPath}
// FAKE CNI plugin: floods its stdout or stderr
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const sleeper = spawn('sleep', ['300'], { stdio: ['ignore', 'inherit', 'inherit'] });
fs.writeFileSync(process.env.FAKE_PIDS, JSON.stringify([process.pid, sleeper.pid]));
const stream = process.env.FAKE_FLOOD_TO === 'stderr' ? process.stderr : process.stdout;
const chunk = Buffer.alloc(1 << 20, 65);
let n = 0;
function go() {
  while (n < ${FLOOD_MB}) {
    n++;
    if (!stream.write(chunk)) return stream.once('drain', go);
  }
}
go();
`,
  { mode: 0o755 },
);
const list = confFromBytes(JSON.stringify({ name: 'flood', cniVersion: '1.0.0', plugins: [{ type: 'fake-flood' }] }), 'flood.conflist');
const gone = (pid: number) => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
// the runtime kills the group when it gives up; the kernel reaps it a moment later, however loaded the host is
const waitGone = (pids: number[]) => waitUntil(() => pids.every(gone), `the plugin's group (${pids.join(', ')}) to be gone`);

for (const to of ['stdout', 'stderr'] as const) {
  test(`a plugin printing ${FLOOD_MB} MB on ${to}: killed with its process group, a clear CNI error, memory bounded`, async () => {
    const pidsFile = path.join(root, `pids-${to}`);
    process.env.FAKE_PIDS = pidsFile;
    process.env.FAKE_FLOOD_TO = to;
    const cni = new CniRuntime({ pluginDirs: [bin], cacheDir: path.join(root, 'cache'), timeoutMs: 120_000 });
    const before = process.memoryUsage().rss;
    await rejects(cni.addNetworkList(list, { containerId: `flood-${to}`, netns: '/var/run/netns/x', ifName: 'eth0' }), (e) => {
      assert.is(e.code, 5);
      assert.is(e.plugin, 'fake-flood');
      assert.match(e.msg, `printed more than ${MAX_PLUGIN_OUTPUT} bytes on ${to}`);
      assert.match(e.msg, /killed with its process group/);
      assert.ok(e.stderr.length <= 65_536 + 100, `stderr kept: ${e.stderr.length} bytes`);
    });
    const grew = process.memoryUsage().rss - before;
    assert.ok(grew < 150 * 1024 * 1024, `RSS grew by ${(grew / 1048576).toFixed(0)} MiB reading a ${FLOOD_MB} MiB flood`);
    await waitGone(JSON.parse(readFileSync(pidsFile, 'utf8')) as number[]);
    assert.equal(cni.getCachedAttachments(), [], 'nothing cached');
  });
}

test('through cni-tool: exit 1, the error names the plugin and the cap, peak RSS of the process stays small', async () => {
  const confDir = path.join(root, 'net.d');
  mkdirSync(confDir, { recursive: true });
  writeFileSync(path.join(confDir, 'flood.conflist'), Buffer.from(list.bytes));
  const pidsFile = path.join(root, 'pids-tool');
  // GNU time prints the peak RSS (KiB) of the process it runs on its last line of stderr
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, TOOL, 'add', 'flood', '/var/run/netns/t3-flood'], {
    env: {
      ...process.env,
      NETCONFPATH: confDir,
      CNI_PATH: bin,
      CNI_CACHE_DIR: path.join(root, 'cache'),
      FAKE_PIDS: pidsFile,
      FAKE_FLOOD_TO: 'stdout',
    },
    encoding: 'utf8',
  });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `plugin type="fake-flood" failed (add): printed more than ${MAX_PLUGIN_OUTPUT} bytes on stdout`);
  const peakKiB = Number(r.stderr.trim().split('\n').at(-1));
  assert.ok(peakKiB > 0 && peakKiB < 200 * 1024, `cni-tool peaked at ${peakKiB} KiB`);
  const pids = JSON.parse(readFileSync(pidsFile, 'utf8')) as number[];
  try {
    await waitGone(pids);
  } finally {
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL'); // only if the group kill failed, which waitGone has reported
      } catch {
        /* gone, as it should be */
      }
    }
  }
});

test.run();
