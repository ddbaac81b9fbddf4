#!/usr/bin/env node
// CNI attach+detach cycles through @cni-demo/cni against the same plugin run directly from a shell loop.
// Real bridge + host-local from /usr/lib/cni, in network namespaces this bench creates (t3b-*) on its own
// bridge and a /24 of CNI_TEST_NET4 (default 172.31); everything is removed at the end, even on failure.
// Usage (root): pnpm bench:cni   env: BENCH_CYCLES (200), BENCH_PARALLEL (8), BENCH_BLOCK (20)
// The "library" rows use the runtime's defaults, as cni-attach does (child_process.spawn per plugin run);
// "cache not fsynced" is the default without the cache fsync.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { CniRuntime, confFromBytes } = await import(path.join(root, 'packages/cni/dist/src/index.js'));
const { freeSubnets, tag } = await import(path.join(root, 'packages/testkit/dist/src/index.js'));

const CYCLES = Number(process.env.BENCH_CYCLES ?? 200);
const PAR = Number(process.env.BENCH_PARALLEL ?? 8);
const BLOCK = Number(process.env.BENCH_BLOCK ?? 20);
const PLUGIN_DIR = '/usr/lib/cni';

if (process.getuid?.() !== 0) {
  console.error('bench:cni needs root (network namespaces and a bridge)');
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

const t = tag(2);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cni-bench-'));
const bridge = `t3b${t}`;
const netnsNames = Array.from({ length: PAR }, (_, i) => `t3b-${t}-${i}`);
const { subnet4 } = await freeSubnets();
const pluginConf = {
  type: 'bridge',
  bridge,
  isGateway: true,
  ipam: { type: 'host-local', dataDir: path.join(tmp, 'leases'), ranges: [[{ subnet: subnet4 }]] },
};
const list = confFromBytes(JSON.stringify({ name: `t3bench${t}`, cniVersion: '1.0.0', plugins: [pluginConf] }), 'bench.conflist');
const requestFile = path.join(tmp, 'request.json');
writeFileSync(requestFile, JSON.stringify({ ...pluginConf, name: list.name, cniVersion: list.cniVersion }));
const loop = path.join(tmp, 'direct.sh');
// the baseline: the plugin binary run straight from a shell loop, no runtime at all
writeFileSync(
  loop,
  `#!/bin/bash
set -e
export CNI_PATH=${PLUGIN_DIR} CNI_IFNAME=eth0 CNI_NETNS="$1" CNI_CONTAINERID="$2" CNI_ARGS=IgnoreUnknown=1
for ((i = 0; i < $3; i++)); do
  CNI_COMMAND=ADD ${PLUGIN_DIR}/bridge < "$4" > /dev/null
  CNI_COMMAND=DEL ${PLUGIN_DIR}/bridge < "$4" > /dev/null
done
`,
  { mode: 0o755 },
);

// the library as cni-attach uses it: defaults, i.e. child_process.spawn per plugin run
const cni = new CniRuntime({ pluginDirs: [PLUGIN_DIR], cacheDir: path.join(tmp, 'cache'), timeoutMs: 60_000 });
// the default without the cache fsync: shows how much of the overhead is the durability of the cache entry
const cniNoSync = new CniRuntime({ pluginDirs: [PLUGIN_DIR], cacheDir: path.join(tmp, 'cache'), timeoutMs: 60_000, durableCache: false });
const rtFor = (i, mode) => ({
  containerId: `bench-${mode}-${i}`,
  netns: `/var/run/netns/${netnsNames[i]}`,
  ifName: 'eth0',
  args: [['IgnoreUnknown', '1']],
});

function shellLoop(i, n, mode) {
  return new Promise((resolve, reject) => {
    const c = spawn('bash', [loop, `/var/run/netns/${netnsNames[i]}`, `bench-${mode}-${i}`, String(n), requestFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`direct loop failed: ${err}`))));
  });
}
async function libLoop(i, n, mode, rtm = cni) {
  const rt = rtFor(i, mode);
  for (let k = 0; k < n; k++) {
    await rtm.addNetworkList(list, rt);
    await rtm.delNetworkList(list, rt);
  }
}
const share = (total, parts) => Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const modes = {
  'direct (shell loop), sequential': (n) => shellLoop(0, n, 'dseq'),
  'library, sequential': (n) => libLoop(0, n, 'lseq'),
  'library, sequential, cache not fsynced': (n) => libLoop(0, n, 'lnos', cniNoSync),
  [`direct (shell loops), ${PAR} in parallel`]: (n) => Promise.all(share(n, PAR).map((k, i) => shellLoop(i, k, 'dpar'))),
  [`library, ${PAR} in parallel`]: (n) => Promise.all(share(n, PAR).map((k, i) => libLoop(i, k, 'lpar'))),
};

try {
  for (const ns of netnsNames) run('ip', ['netns', 'add', ns]);
  // warm-up: page cache, bridge created once, first-run costs out of the measurement
  await shellLoop(0, 5, 'warm');
  await libLoop(0, 5, 'warm');
  // the modes take turns in blocks, so a change in host load hits every mode alike instead of one of them
  const total = Object.fromEntries(Object.keys(modes).map((k) => [k, 0]));
  const blocks = Math.ceil(CYCLES / BLOCK);
  for (let b = 0; b < blocks; b++) {
    const n = Math.min(BLOCK, CYCLES - b * BLOCK);
    for (const [name, fn] of Object.entries(modes)) total[name] += await timed(() => fn(n));
  }
  const base = total['direct (shell loop), sequential'];
  const libSeq = total['library, sequential'];
  const lines = [
    `CNI attach+detach (bridge + host-local, cniVersion 1.0.0), ${CYCLES} cycles per mode, modes interleaved in blocks of ${BLOCK}, node ${process.version}, load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs`,
    '',
    '| mode | total ms | ms/cycle | vs direct sequential |',
    '|---|---:|---:|---:|',
    ...Object.keys(modes).map(
      (k) => `| ${k} | ${total[k].toFixed(0)} | ${(total[k] / CYCLES).toFixed(2)} | ${(total[k] / base).toFixed(3)} |`,
    ),
    '',
    `library overhead, sequential: ${((libSeq / base - 1) * 100).toFixed(1)}%`,
    `library parallel speed-up over library sequential: ${(libSeq / total[`library, ${PAR} in parallel`]).toFixed(2)}x (target > 1)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  for (const ns of netnsNames) run('ip', ['netns', 'del', ns], { allowFail: true });
  run('ip', ['link', 'del', bridge], { allowFail: true });
  rmSync(tmp, { recursive: true, force: true });
}
