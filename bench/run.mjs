#!/usr/bin/env node
// pnpm bench: the speed and memory targets of issue 6, measured side by side in one run.
//   (a) the whole demo (up + verify, then down) through `pnpm turbo run demo` + `pnpm turbo run down`,
//       through the single-process path (packages/cli cni-demo up/down) and through bench/shell/demo.sh
//       (the same steps with the same tools), several rounds in rotating order: medians and ratios;
//   (b) N = 1, 10, 50, 200 containers up and down: ms per container, against the same shell script's loop;
//   (c) peak memory (max RSS, from /usr/bin/time) of our processes.
// Prints markdown tables and writes bench/RESULTS.md with the machine described.
// Everything runs under its own names (id t6bench, bridge t6bbr0, network t6bnet, 172.24.250.0/24,
// fd00:c1d:18fa::/64) and temp roots, so a running demo is never touched; everything is torn down after.
//   node bench/run.mjs [--rounds 3] [--pairs 3] [--sizes 1,10,50,200] [--out bench/RESULTS.md]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', '3'));
const PAIRS = Number(opt('pairs', '3'));
const SIZES = opt('sizes', '1,10,50,200').split(',').map(Number);
const OUT = path.resolve(repo, opt('out', 'bench/RESULTS.md'));

if (process.getuid?.() !== 0) {
  console.error('error: the bench runs the demo for real and must run as root\n  fix: sudo pnpm bench');
  process.exit(1);
}

const NAMES = {
  CNI_DEMO_ID: 't6bench',
  CNI_DEMO_NETWORK: 't6bnet',
  CNI_DEMO_BRIDGE: 't6bbr0',
  CNI_DEMO_SUBNET4: '172.24.250.0/24',
  CNI_DEMO_GATEWAY4: '172.24.250.1',
  CNI_DEMO_SUBNET6: 'fd00:c1d:18fa::/64',
  CNI_DEMO_GATEWAY6: 'fd00:c1d:18fa::1',
};
// never the demo's own names: refuse to start rather than risk a running demo
for (const bad of ['demo', 'connet', 'cbr0', '192.168.199.0/24']) {
  if (Object.values(NAMES).includes(bad)) throw new Error(`bench names must not include ${bad}`);
}

const root = mkdtempSync(path.join(os.tmpdir(), 't6bench-'));
// the caller's own CNI_DEMO_* settings never leak into the bench
const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CNI_DEMO_')));
const baseEnv = {
  ...inherited,
  ...NAMES,
  CNI_DEMO_CONF_DIR: path.join(root, 'net.d'),
  CNI_DEMO_STATE_DIR: path.join(root, 'state'),
  CNI_DEMO_IMAGE_CACHE_DIR: path.join(root, 'images'),
  CNI_DEMO_CNI_CACHE_DIR: path.join(root, 'cni-cache'),
  CNI_DEMO_IPAM_DATA_DIR: path.join(root, 'leases'),
  CNI_DEMO_RUNC_ROOT: path.join(root, 'runc'),
  CNI_DEMO_NETNS_DIR: path.join(root, 'netns'),
  CNI_DEMO_INSTALL: 'false',
  TURBO_TELEMETRY_DISABLED: '1',
  DO_NOT_TRACK: '1',
  NO_COLOR: '1',
};

const CLI = path.join(repo, 'packages/cli/dist/scripts/cni-demo.mjs');
const SHELL = path.join(repo, 'bench/shell/demo.sh');
const PATHS = {
  turbo: {
    label: '`pnpm turbo run demo` + down',
    up: ['pnpm', 'turbo', 'run', 'demo', '--output-logs=errors-only'],
    down: ['pnpm', 'turbo', 'run', 'down', '--output-logs=errors-only'],
  },
  single: { label: 'single process (cni-demo up/down)', up: ['node', CLI, 'up'], down: ['node', CLI, 'down'] },
  shell: { label: 'plain shell (bench/shell/demo.sh)', up: ['bash', SHELL, 'up'], down: ['bash', SHELL, 'down'] },
};

/** Runs a command under /usr/bin/time; returns wall ms and the max RSS in KB. Throws with its output on failure. */
function timed(cmd, env) {
  const rssFile = path.join(root, 'rss.txt');
  const started = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, ...cmd], { cwd: repo, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${cmd.join(' ')} failed (exit ${r.status}):\n${tail}`);
  }
  const rss = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
  return { ms, rssKb: rss };
}

function cleanup(env) {
  // the down of every path, whatever state it is in; each succeeds when there is nothing left
  for (const p of [PATHS.single, PATHS.shell]) spawnSync(p.down[0], p.down.slice(1), { cwd: repo, env, stdio: 'ignore' });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms) => (ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const first = (cmd, args) => (spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '').split('\n')[0].trim();

function machine() {
  const plugins = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'containernetworking-plugins'], { encoding: 'utf8' }).stdout;
  return [
    ['CPU', `${os.cpus()[0]?.model ?? '?'} (nproc ${first('nproc', [])})`],
    ['memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['kernel', first('uname', ['-sr'])],
    ['OS', (readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)/m) ?? [])[1] ?? '?'],
    [
      'load average at start',
      os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
    ],
    ['node', process.version],
    ['pnpm', first('pnpm', ['--version'])],
    ['turbo', first('pnpm', ['turbo', '--version'])],
    ['runc', first('runc', ['--version'])],
    ['umoci', first('umoci', ['--version'])],
    ['iptables', first('iptables', ['--version'])],
    ['CNI plugins', `containernetworking-plugins ${plugins}`],
    ['bash / jq', `${first('bash', ['--version'])} / ${first('jq', ['--version'])}`],
  ];
}

const table = (head, rows) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const out = [];
const say = (text) => {
  out.push(text);
  process.stdout.write(`${text}\n`);
};

process.on('SIGINT', () => {
  cleanup(baseEnv);
  rmSync(root, { recursive: true, force: true });
  process.exit(130);
});

const machineRows = machine();
let failed;
try {
  // the bench refuses to run over anything that is there: its bridge or its subnet already in use
  if (spawnSync('ip', ['link', 'show', NAMES.CNI_DEMO_BRIDGE], { stdio: 'ignore' }).status === 0) {
    throw new Error(`bridge ${NAMES.CNI_DEMO_BRIDGE} already exists: an earlier bench did not finish (run the cleanup by hand)`);
  }
  const env1 = { ...baseEnv, CNI_DEMO_CONTAINERS: '1' };
  process.stderr.write(`bench: warm-up (image cache in ${root})\n`);
  timed(PATHS.single.up, env1);
  timed(PATHS.single.down, env1);

  // (a) the whole demo, each path in turn, rotating the order every round
  const order = ['turbo', 'single', 'shell'];
  const res = { turbo: [], single: [], shell: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const rot = order.map((_, i) => order[(i + r) % order.length]);
    // the two cheap paths run PAIRS times a round (alternating which goes first): the machine is shared,
    // and more samples steady their medians; turbo, at ~10× their time, runs once a round
    for (let p = 1; p < PAIRS; p++) rot.push(...((r + p) % 2 ? ['shell', 'single'] : ['single', 'shell']));
    for (const key of rot) {
      process.stderr.write(`bench: (a) round ${r + 1}/${ROUNDS} ${key}\n`);
      const up = timed(PATHS[key].up, env1);
      const down = timed(PATHS[key].down, env1);
      res[key].push({ up: up.ms, down: down.ms, total: up.ms + down.ms, rss: Math.max(up.rssKb, down.rssKb) });
    }
  }
  const med = Object.fromEntries(order.map((k) => [k, median(res[k].map((x) => x.total))]));
  say(`## (a) whole demo: up + verify, then down (medians of ${ROUNDS} runs for turbo, ${ROUNDS * PAIRS} for the others)\n`);
  say(
    table(
      ['path', 'up+verify', 'down', 'total', 'ratio to shell', 'runs', 'fastest … slowest total'],
      order.map((k) => [
        PATHS[k].label,
        fmt(median(res[k].map((x) => x.up))),
        fmt(median(res[k].map((x) => x.down))),
        fmt(med[k]),
        `${(med[k] / med.shell).toFixed(2)}×`,
        String(res[k].length),
        `${fmt(Math.min(...res[k].map((x) => x.total)))} … ${fmt(Math.max(...res[k].map((x) => x.total)))}`,
      ]),
    ),
  );
  const ra = med.single / med.shell;
  const rt = med.turbo / med.shell;
  say(
    `\ntargets: single-process / shell ≤ 1.0: **${ra.toFixed(2)}** ${ra <= 1 ? 'met' : 'NOT met'}; ` +
      `turbo / shell ≤ 2.0: **${rt.toFixed(2)}** ${rt <= 2 ? 'met' : 'NOT met'}\n`,
  );

  // (b) many containers: the single-process path against the shell loop, same N, up then down
  const sizes = [];
  for (const n of SIZES) {
    const env = { ...baseEnv, CNI_DEMO_CONTAINERS: String(n) };
    const row = { n };
    for (const key of ['single', 'shell']) {
      process.stderr.write(`bench: (b) N=${n} ${key}\n`);
      const up = timed(PATHS[key].up, env);
      const down = timed(PATHS[key].down, env);
      row[key] = { up: up.ms, down: down.ms, total: up.ms + down.ms, rss: Math.max(up.rssKb, down.rssKb) };
    }
    sizes.push(row);
  }
  const one = sizes.find((s) => s.n === 1);
  const per = (s, k) => s[k].total / s.n;
  const marginal = (s, k) => (one && s.n > 1 ? (s[k].total - one[k].total) / (s.n - 1) : Number.NaN);
  say(`## (b) N containers up (with verify) and down\n`);
  say(
    table(
      [
        'N',
        'ours up',
        'ours down',
        'ours ms/container',
        'shell up',
        'shell down',
        'shell ms/container',
        'ours/shell',
        'marginal ms/container ours (shell)',
      ],
      sizes.map((s) => [
        String(s.n),
        fmt(s.single.up),
        fmt(s.single.down),
        per(s, 'single').toFixed(0),
        fmt(s.shell.up),
        fmt(s.shell.down),
        per(s, 'shell').toFixed(0),
        `${(s.single.total / s.shell.total).toFixed(2)}×`,
        s.n > 1 && one ? `${marginal(s, 'single').toFixed(0)} (${marginal(s, 'shell').toFixed(0)})` : '-',
      ]),
    ),
  );
  const s10 = sizes.find((s) => s.n === 10);
  const s200 = sizes.find((s) => s.n === Math.max(...SIZES));
  if (s10 && s200 && s200 !== s10) {
    const a = per(s200, 'single') / per(s10, 'single');
    const b = per(s200, 'single') / per(s200, 'shell');
    say(
      `\nms/container = (up + down) / N; marginal = (T(N) − T(1)) / (N − 1), the cost of one more container.\n` +
        `targets: ms/container at N=${s200.n} vs N=10 ≤ 1.2: **${a.toFixed(2)}** ${a <= 1.2 ? 'met' : 'NOT met'}; ` +
        `vs the shell loop at N=${s200.n} ≤ 1.1: **${b.toFixed(2)}** ${b <= 1.1 ? 'met' : 'NOT met'}\n`,
    );
  }

  // (c) memory
  say(`## (c) peak memory (max RSS of one process, /usr/bin/time %M)\n`);
  const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;
  say(
    table(
      ['run', 'peak RSS'],
      [
        ...order.map((k) => [`(a) ${PATHS[k].label}`, mb(Math.max(...res[k].map((x) => x.rss)))]),
        ...sizes.flatMap((s) => [
          [`(b) N=${s.n} single process`, mb(s.single.rss)],
          [`(b) N=${s.n} shell`, mb(s.shell.rss)],
        ]),
      ],
    ),
  );
  say(
    "\nThe turbo path's peak is its largest process (turbo itself, pnpm or a step's zx/node); the shell's is its largest tool (runc, umoci, a plugin).",
  );
} catch (e) {
  failed = e;
} finally {
  cleanup({ ...baseEnv, CNI_DEMO_CONTAINERS: String(Math.max(1, ...SIZES)) });
  cleanup({ ...baseEnv, CNI_DEMO_CONTAINERS: '1' });
  rmSync(root, { recursive: true, force: true });
}
if (failed) {
  process.stderr.write(`bench failed: ${failed.message}\n`);
  process.exit(1);
}

const header = [
  '# Benchmarks (issue 6)',
  '',
  `Written by \`pnpm bench\` (bench/run.mjs) on ${new Date().toISOString()}. Names: id t6bench, bridge t6bbr0,`,
  'network t6bnet, 172.24.250.0/24 and fd00:c1d:18fa::/64, every root under a temp folder.',
  '',
  '## Machine',
  '',
  table(['', ''], machineRows),
  '',
];
// the other benches (bench:cni, bench:nodes) own a section of this file each, between their markers
// (<!-- bench:<name> start --> … <!-- bench:<name> end -->): carried over as they are
const previous = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
const sections = [...previous.matchAll(/<!-- bench:([\w-]+) start -->[\s\S]*?<!-- bench:\1 end -->/g)].map((m) => m[0]);
writeFileSync(OUT, `${header.join('\n')}\n${out.join('\n')}\n${sections.map((x) => `\n${x}\n`).join('')}`);
process.stderr.write(`bench: wrote ${path.relative(repo, OUT)}\n`);
if (existsSync(root)) rmSync(root, { recursive: true, force: true });
