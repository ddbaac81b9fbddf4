#!/usr/bin/env node
// bench:nodes — what several nodes cost, written to its own section of bench/RESULTS.md.
//   N = 1, 2, 4, 8 nodes x 4 containers, each round up (with verify: within every node and across nodes) then down,
//   through the one-process cni-demo: ms per container (the target: at 8 nodes within 1.2x of 1 node), and the
//   ping round-trip time between two containers on one node against two on different nodes (over the underlay).
// Everything runs under its own names (id ndbench, bridges ndbbr0 and ndbul, network ndbnet) with subnets under
// BENCH_NET4 (a /16 base, default 172.26) and every root under a temp folder; everything is torn down after.
// Usage (root): pnpm bench:nodes [--no-write]   env: BENCH_ROUNDS (3), BENCH_NODES (1,2,4,8), BENCH_CONTAINERS (4),
//   BENCH_PINGS (20), BENCH_NET4 (172.26), BENCH_OUT (bench/RESULTS.md)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeMarkedSection } from '../marked-section.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const NODES = (process.env.BENCH_NODES ?? '1,2,4,8').split(',').map(Number);
const CONTAINERS = Number(process.env.BENCH_CONTAINERS ?? 4);
const PINGS = Number(process.env.BENCH_PINGS ?? 20);
const NET4 = process.env.BENCH_NET4 ?? '172.26';
const OUT = path.resolve(repo, process.env.BENCH_OUT ?? 'bench/RESULTS.md');
const WRITE = !process.argv.includes('--no-write');
const CLI = path.join(repo, 'packages/cli/dist/scripts/cni-demo.mjs');

if (process.getuid?.() !== 0) {
  console.error('error: bench:nodes runs the demo for real and must run as root\n  fix: sudo pnpm bench:nodes');
  process.exit(1);
}
if (!/^\d{1,3}\.\d{1,3}$/.test(NET4)) throw new Error(`BENCH_NET4 must look like 172.26, got "${NET4}"`);
const octet = Number(NET4.split('.')[1]).toString(16).padStart(2, '0');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ndbench-'));
const config = {
  id: 'ndbench',
  network: 'ndbnet',
  bridge: 'ndbbr0',
  underlayBridge: 'ndbul',
  subnet4: `${NET4}.200.0/24`,
  gateway4: `${NET4}.200.1`,
  subnet6: `fd00:c1d:${octet}c8::/64`,
  gateway6: `fd00:c1d:${octet}c8::1`,
  underlaySubnet: `${NET4}.199.0/24`,
  containers: CONTAINERS,
  install: false,
  confDir: path.join(tmp, 'net.d'),
  stateDir: path.join(tmp, 'state'),
  imageCacheDir: path.join(tmp, 'images'),
  cniCacheDir: path.join(tmp, 'cni-cache'),
  ipamDataDir: path.join(tmp, 'leases'),
  runcRoot: path.join(tmp, 'runc'),
  netnsDir: path.join(tmp, 'netns'),
};
const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CNI_DEMO_'))), NO_COLOR: '1' };

function run(cmd, args, o = {}) {
  const r = spawnSync(cmd, args, { cwd: repo, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0 && !o.allowFail) {
    const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${tail}`);
  }
  return r;
}

function timed(args) {
  const t0 = process.hrtime.bigint();
  run(process.execPath, [CLI, ...args]);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The average round-trip time of PINGS pings from one container's namespace to an address, in ms. */
function rtt(fromPin, address) {
  const r = run('nsenter', [`--net=${fromPin}`, 'ping', '-q', '-n', '-c', String(PINGS), '-i', '0.01', '-W', '1', address]);
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  if (!m) throw new Error(`no round-trip time in: ${r.stdout}`);
  return Number(m[1]);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const rows = [];
const loadStart = os.loadavg();
try {
  // one warm-up up+down: the image is built and unpacked once, as on any second run
  const warm = path.join(tmp, 'warm.json');
  writeFileSync(warm, JSON.stringify({ ...config, nodes: 1 }));
  run(process.execPath, [CLI, 'up', '--config', warm]);
  run(process.execPath, [CLI, 'down', '--config', warm]);
  // the sizes take turns round by round, so a change of the host's load (it is shared) falls on all of them alike
  const runs = new Map(NODES.map((n) => [n, { ups: [], downs: [], same: [], cross: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of NODES) {
      const file = path.join(tmp, `nodes-${n}.json`);
      writeFileSync(file, JSON.stringify({ ...config, nodes: n }));
      const r = runs.get(n);
      try {
        r.ups.push(timed(['up', '--config', file]));
        const atts = JSON.parse(readFileSync(path.join(config.stateDir, config.id, 'cni-attach.json'), 'utf8')).attachments;
        const on = (node) => atts.filter((a) => (a.node ?? 1) === node);
        // two containers of node 1, and node 1's first container to node 2's
        r.same.push(rtt(on(1)[0].netns, on(1)[1].ipv4));
        if (n > 1) r.cross.push(rtt(on(1)[0].netns, on(2)[0].ipv4));
        r.downs.push(timed(['down', '--config', file]));
      } catch (e) {
        run(process.execPath, [CLI, 'down', '--config', file], { allowFail: true });
        throw e;
      }
    }
    process.stderr.write(`bench:nodes: round ${round + 1} of ${ROUNDS} done\n`);
  }
  for (const n of NODES) {
    const r = runs.get(n);
    const up = median(r.ups);
    const down = median(r.downs);
    rows.push({
      n,
      up,
      down,
      perContainer: (up + down) / (n * CONTAINERS),
      same: median(r.same),
      cross: r.cross.length ? median(r.cross) : undefined,
    });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const base = rows.find((r) => r.n === 1);
const ratio = (r) => (base ? (r.perContainer / base.perContainer).toFixed(2) : '-');
const last = rows.at(-1);
const target = base && last ? last.perContainer / base.perContainer : undefined;
const section = [
  '## Several nodes (`pnpm bench:nodes`, bench/nodes/run.mjs)',
  '',
  `Written on ${new Date().toISOString()}; node ${process.version}, load average ${loadStart.map((l) => l.toFixed(1)).join(' ')} at the start on ${os.cpus().length} CPUs. ` +
    `N nodes x ${CONTAINERS} containers through the one-process \`cni-demo up\` (verify included: within every node, and every ordered pair of nodes over IPv4 and IPv6) and \`down\`, medians of ${ROUNDS} rounds, the sizes taking turns in each; ` +
    `round-trip times are the average of ${PINGS} pings (0.01 s apart) from a container's namespace, medians over the rounds.`,
  '',
  '| nodes | containers | up + verify | down | ms per container | vs 1 node | same-node RTT ms | cross-node RTT ms |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.n} | ${r.n * CONTAINERS} | ${Math.round(r.up)} ms | ${Math.round(r.down)} ms | ${r.perContainer.toFixed(0)} | ${ratio(r)}x | ${r.same.toFixed(3)} | ${r.cross === undefined ? '-' : r.cross.toFixed(3)} |`,
  ),
  '',
  target === undefined
    ? ''
    : `target: ms per container at ${last?.n} nodes within 1.2x of 1 node: **${target.toFixed(2)}x** ${target <= 1.2 ? 'met' : 'NOT met'}.`,
].join('\n');
process.stdout.write(`${section}\n`);

// bench/RESULTS.md: this section only, between its markers; the rest of the file is the other benches'
if (WRITE) {
  writeMarkedSection(OUT, 'nodes', section);
  process.stderr.write(`bench:nodes: wrote its section of ${path.relative(repo, OUT)}\n`);
}
