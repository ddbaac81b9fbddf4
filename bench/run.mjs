#!/usr/bin/env node
// pnpm bench: the demo's speed against bench/shell/demo.sh, a plain-shell script doing the same work, in one run.
//   (a) one container, up then down, every path in turn each round (medians of --rounds, default 7), wall and
//       CPU: the one-process path (`cni-demo up` + `down` as users run them), the shell script, and the turbo
//       path (`pnpm turbo run demo` + `down`) against its floor: the one-process time plus one package-manager
//       start (`pnpm --version`, timed in the same rounds) for each pnpm on the turbo graph's critical path
//       (read from turbo.json), and beside it the same turbo graph with empty tasks (bench/empty-graph.mjs:
//       every task `node -e 0`, and every task its own zx command on an empty script), in the same rotation,
//       which shows what the tasks' starts cost before any step works. Then the one-process path's step
//       timings (its own status lines), and what it
//       does beyond the script (bench/extras.mjs), each timed on its own, with the comparison made both ways.
//   (b) N = 1, 10, 50, 200 containers up and down (medians of --size-rounds): per-container figures against
//       the same script's loop.
//   (c) peak memory: the largest process of each path, sampled while it runs.
// Each section states the load average before and after it, and is flagged noisy when the 1-minute load moved
// by more than 1.0. Writes bench/RESULTS.md (the other benches' marked sections are carried over as they are).
// Everything runs under the bench's own names (id t6bench, bridge t6bbr0, network t6bnet, 172.24.250.0/24,
// fd00:c1d:18fa::/64) and temp roots, so a running demo is never touched; everything is torn down after.
//   node bench/run.mjs [--rounds 7] [--size-rounds 7] [--sizes 1,10,50,200] [--sections a,b,c] [--out bench/RESULTS.md]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuMs, forwardingHolders, forwardingNow, measureAfterDown, measureLive, median, readHostRecord } from './extras.mjs';
import { emptyGraphWorkspace } from './empty-graph.mjs';
import { markedSections } from './marked-section.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    'size-rounds': { type: 'string', default: '7' },
    sizes: { type: 'string', default: '1,10,50,200' },
    sections: { type: 'string', default: 'a,b,c' },
    out: { type: 'string', default: 'bench/RESULTS.md' },
  },
});
const ROUNDS = Number(opt.rounds);
const SIZE_ROUNDS = Number(opt['size-rounds']);
const SIZES = opt.sizes.split(',').map(Number);
const SECTIONS = new Set(opt.sections.split(','));
const OUT = path.resolve(repo, opt.out);
for (const [name, n] of [['rounds', ROUNDS], ['size-rounds', SIZE_ROUNDS], ...SIZES.map((s) => ['sizes', s])]) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`error: --${name} must be whole numbers of at least 1`);
    process.exit(2);
  }
}

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

// the caller's own CNI_DEMO_* settings never leak into the bench
const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CNI_DEMO_')));
/** The bench's environment for the instance whose every folder is under `root`. */
const envFor = (root) => ({
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
});

const CLI = path.join(repo, 'packages/cli/dist/scripts/cni-demo.mjs');
const SHELL = path.join(repo, 'bench/shell/demo.sh');
// each path exactly as its users run it
const PATHS = {
  single: { label: 'one process: `cni-demo up` + `cni-demo down`', up: ['node', CLI, 'up'], down: ['node', CLI, 'down'] },
  shell: { label: 'plain shell: `bench/shell/demo.sh up` + `down`', up: ['bash', SHELL, 'up'], down: ['bash', SHELL, 'down'] },
  turbo: {
    label: 'turbo: `pnpm turbo run demo` + `pnpm turbo run down`',
    up: ['pnpm', 'turbo', 'run', 'demo'],
    down: ['pnpm', 'turbo', 'run', 'down'],
  },
};

/**
 * Runs a command to its end; wall ms, and the CPU ms of everything it waited for. Throws with its output on failure.
 * It first lets the event loop turn: a signal that came during the last command is handled there (the teardown),
 * not after the whole run.
 */
async function timed(cmd, env, cwd = repo) {
  await new Promise((r) => setImmediate(r));
  const c0 = cpuMs();
  const t0 = performance.now();
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  const cpu = cpuMs() - c0;
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${cmd.join(' ')} failed (exit ${r.status}):\n${tail}`);
  }
  return { ms, cpu, stderr: r.stderr ?? '' };
}

async function upDown(key, env) {
  const up = await timed(PATHS[key].up, env, PATHS[key].cwd);
  const down = await timed(PATHS[key].down, env, PATHS[key].cwd);
  return {
    up: up.ms,
    down: down.ms,
    total: up.ms + down.ms,
    cpu: up.cpu + down.cpu,
    steps: [...stepLines(up.stderr, 'up'), ...stepLines(down.stderr, 'down')],
  };
}

/** The one-process path's own status lines ("✔ host-setup up   0.15s"): its step timings, as users see them. */
function stepLines(stderr, action) {
  const out = [];
  for (const m of stderr.matchAll(/^✔ (\S+) (\S+)\s+([\d.]+)s$/gm)) {
    if (m[1] === 'cni-demo') continue;
    out.push({ key: `${action}: ${m[1]} ${m[2]}`, ms: Number(m[3]) * 1000 });
  }
  return out;
}

function cleanup(env) {
  // the down of every path, whatever state it is in; each succeeds when there is nothing left
  for (const p of [PATHS.single, PATHS.shell]) spawnSync(p.down[0], p.down.slice(1), { cwd: repo, env, stdio: 'ignore' });
}

/**
 * What a bench leaves on the host if it dies before its teardown: its bridge, and its entry in the host record
 * (/var/lib/cni-demo/netns-<inode>.json, which outlives the temp folder and would hold forwarding on for good).
 * Found by the bench's own names only.
 */
function leftovers() {
  const bridge = spawnSync('ip', ['link', 'show', NAMES.CNI_DEMO_BRIDGE], { stdio: 'ignore' }).status === 0;
  const record = readHostRecord();
  const entries = Object.entries(record?.instances ?? {})
    .filter(([, e]) => e.id === NAMES.CNI_DEMO_ID && e.bridge === NAMES.CNI_DEMO_BRIDGE)
    .map(([runDir]) => runDir);
  return { bridge, entries };
}

/**
 * Takes down what an earlier bench left, through the demo's own down (it works from the host record when the
 * temp folder is gone) and the shell's (its bridge, by name), for the roots those entries name and our own.
 */
function removeLeftovers() {
  const { entries } = leftovers();
  // an entry's run folder is <root>/state/<id>: the instance's other folders were under the same root; an
  // earlier bench's temp roots are found by their prefix (one bench runs at a time: none is in use)
  const stale = readdirSync(os.tmpdir())
    .filter((d) => d.startsWith('t6bench-'))
    .map((d) => path.join(os.tmpdir(), d))
    .filter((d) => d !== root);
  const roots = new Set([
    root,
    ...entries.map((runDir) => path.dirname(path.dirname(runDir))),
    ...stale.filter((d) => !/-extras-/.test(d)),
  ]);
  for (const r of roots) {
    for (const n of ['1', String(Math.max(1, ...SIZES))]) cleanup({ ...envFor(r), CNI_DEMO_CONTAINERS: n });
  }
  // a stale root goes once nothing is mounted under it any more (a mount left there is reported, not unlinked through)
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  for (const d of stale) if (!mounts.includes(` ${d}/`)) rmSync(d, { recursive: true, force: true });
}

/** Everything down, then checked: a bridge or a record entry still there is an error that names it. */
function teardown() {
  removeLeftovers();
  const left = leftovers();
  rmSync(root, { recursive: true, force: true });
  const what = [...(left.bridge ? [`bridge ${NAMES.CNI_DEMO_BRIDGE}`] : []), ...left.entries.map((e) => `host record entry ${e}`)];
  if (what.length > 0) throw new Error(`the bench could not remove ${what.join(', ')}`);
}

/** One bench at a time: the names are fixed. A pid file in the temp folder; a dead holder's is taken over. */
function takeBenchLock() {
  const file = path.join(os.tmpdir(), 't6bench.pid');
  for (let i = 0; i < 2; i++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => rmSync(file, { force: true });
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = /bench\/run\.mjs/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      } catch {
        /* gone */
      }
      if (alive) {
        console.error(`error: another bench is running (pid ${pid}); the bench's names are fixed, so one runs at a time`);
        process.exit(1);
      }
      rmSync(file, { force: true });
    }
  }
  throw new Error('could not take the bench lock');
}

const fmt = (ms) => (ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const first = (cmd, args) => (spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '').split('\n')[0].trim();
const loads = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function machine() {
  const plugins = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'containernetworking-plugins'], { encoding: 'utf8' }).stdout;
  return [
    ['CPU', `${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} CPUs)`],
    ['memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['kernel', first('uname', ['-sr'])],
    ['OS', (readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)/m) ?? [])[1] ?? '?'],
    ['load average (1, 5, 15 min) at start', loads()],
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
const note = (text) => process.stderr.write(`bench: ${text}\n`);

/** A section: its title, the load before and after it (noisy when the 1-minute load moved by more than 1.0), its body. */
async function section(title, body) {
  const before = os.loadavg();
  const lines = [];
  await body((t) => lines.push(t));
  const after = os.loadavg();
  const moved = Math.abs(after[0] - before[0]);
  say(`## ${title}\n`);
  say(
    `Load average (1, 5, 15 min) before: ${before.map((l) => l.toFixed(2)).join(' ')}; after: ${after.map((l) => l.toFixed(2)).join(' ')}` +
      (moved > 1 ? ` — **noisy**: the 1-minute load moved by ${moved.toFixed(2)} during this section.\n` : '.\n'),
  );
  for (const l of lines) say(l);
}

/**
 * The pnpm starts on the turbo graph's critical path for a task: one for `pnpm turbo` itself, plus one per task
 * on the longest chain of dependsOn between the packages' own tasks in turbo.json (builds are cached, so they
 * start no process).
 */
export function pnpmStartsOnPath(task) {
  const turbo = JSON.parse(readFileSync(path.join(repo, 'turbo.json'), 'utf8'));
  const pkgs = readdirSync(path.join(repo, 'packages'))
    .map((d) => path.join(repo, 'packages', d, 'package.json'))
    .filter((f) => existsSync(f))
    .map((f) => JSON.parse(readFileSync(f, 'utf8')))
    .filter((p) => p.scripts?.[task])
    .map((p) => `${p.name}#${task}`);
  const memo = new Map();
  const chain = (node) => {
    if (memo.has(node)) return memo.get(node);
    const deps = (turbo.tasks[node]?.dependsOn ?? []).filter((d) => d.includes('#') && !d.startsWith('^'));
    const n = 1 + Math.max(0, ...deps.map(chain));
    memo.set(node, n);
    return n;
  };
  return 1 + Math.max(0, ...pkgs.map(chain));
}

const releaseLock = takeBenchLock();
const root = mkdtempSync(path.join(os.tmpdir(), 't6bench-'));
/** The turbo graph with empty tasks (bench/empty-graph.mjs), as two more paths: what the turbo path costs before any step works. */
function addEmptyGraphs() {
  for (const [key, kind, what] of [
    ['emptyNode', 'node', 'every task `node -e 0`'],
    ['emptyZx', 'zx', 'every task its own zx command on an empty script'],
  ]) {
    PATHS[key] = {
      label: `the same turbo graph, ${what}`,
      up: PATHS.turbo.up,
      down: PATHS.turbo.down,
      cwd: emptyGraphWorkspace(repo, kind, path.join(root, `empty-graph-${kind}`)),
    };
  }
}
const baseEnv = envFor(root);
const env1 = { ...baseEnv, CNI_DEMO_CONTAINERS: '1' };

// interrupted (Ctrl-C, kill, a closed terminal): everything down before leaving. A signal arrives while a
// command runs (spawnSync holds the loop) and is handled once it ends, so the teardown never races it.
for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(sig, () => {
    note(`${sig}: tearing down`);
    try {
      teardown();
      restoreForwarding();
    } catch (e) {
      process.stderr.write(`bench: ${e.message}\n`);
    }
    releaseLock();
    process.exit(code);
  });
}

// The shell baseline's bridge plugin turns the host's forwarding on and, like the walkthrough, never puts it
// back; ours does (the host record). The bench leaves the host as it found it: the values from before are
// written back at the end (outside every timed section) unless another instance on the host holds them.
const forwardingBefore = forwardingNow();
function restoreForwarding() {
  if (forwardingHolders(readHostRecord()).length > 0) return;
  for (const [k, v] of Object.entries(forwardingBefore)) writeFileSync(path.join('/proc/sys', ...k.split('.')), v);
}

const machineRows = machine();
let failed;
try {
  // what an earlier bench left (it was killed before its teardown) goes first, through the demo's own down
  const before = leftovers();
  const staleRoots = readdirSync(os.tmpdir()).filter((d) => d.startsWith('t6bench-') && path.join(os.tmpdir(), d) !== root);
  if (before.bridge || before.entries.length > 0 || staleRoots.length > 0) {
    note(
      `an earlier bench left ${before.bridge ? `bridge ${NAMES.CNI_DEMO_BRIDGE}, ` : ''}${before.entries.length} host record entry(ies), ${staleRoots.length} temp folder(s): removing`,
    );
    removeLeftovers();
    const still = leftovers();
    if (still.bridge || still.entries.length > 0) {
      throw new Error(
        `what an earlier bench left could not be removed; see \`ip link show ${NAMES.CNI_DEMO_BRIDGE}\` and /var/lib/cni-demo`,
      );
    }
  }
  // warm-up: the image cache entry and its unpacked tree, the probe caches, Node's compile caches, pnpm's
  note(`warm-up (image cache in ${root})`);
  for (let i = 0; i < 2; i++) await upDown('single', env1);
  await upDown('shell', env1);
  if (SECTIONS.has('a')) {
    addEmptyGraphs();
    for (const key of ['turbo', 'emptyNode', 'emptyZx']) await upDown(key, env1);
  }

  if (SECTIONS.has('a')) await sectionA();
  if (SECTIONS.has('b')) await sectionB();
  if (SECTIONS.has('c')) await sectionC();
} catch (e) {
  failed = e;
} finally {
  try {
    teardown();
    restoreForwarding();
  } catch (e) {
    failed ??= e;
  }
  releaseLock();
}
if (failed) {
  process.stderr.write(`bench failed: ${failed.stack ?? failed.message}\n`);
  process.exit(1);
}

async function sectionA() {
  const order = ['single', 'shell', 'turbo', 'pnpm', 'emptyNode', 'emptyZx'];
  const res = Object.fromEntries(order.map((k) => [k, []]));
  await section(`(a) one container: up, then down (medians of ${ROUNDS} rounds, the paths in turn)`, async (w) => {
    for (let r = 0; r < ROUNDS; r++) {
      for (const key of order.map((_, i) => order[(i + r) % order.length])) {
        note(`(a) round ${r + 1}/${ROUNDS} ${key}`);
        if (key === 'pnpm') {
          const t = await timed(['pnpm', '--version'], env1);
          res.pnpm.push({ total: t.ms, cpu: t.cpu });
        } else res[key].push(await upDown(key, env1));
      }
    }
    const m = (key, f) => median(res[key].map(f));
    const shell = { wall: m('shell', (x) => x.total), cpu: m('shell', (x) => x.cpu) };
    const row = (key, label) => [
      label,
      fmt(m(key, (x) => x.up)),
      fmt(m(key, (x) => x.down)),
      `**${fmt(m(key, (x) => x.total))}**`,
      fmt(m(key, (x) => x.cpu)),
      `${(m(key, (x) => x.total) / shell.wall).toFixed(2)}×`,
      `${(m(key, (x) => x.cpu) / shell.cpu).toFixed(2)}×`,
      `${fmt(Math.min(...res[key].map((x) => x.total)))} … ${fmt(Math.max(...res[key].map((x) => x.total)))}`,
    ];
    w(
      table(
        ['path', 'up', 'down', 'wall (up + down)', 'CPU', 'wall / shell', 'CPU / shell', 'fastest … slowest wall'],
        [row('single', PATHS.single.label), row('shell', PATHS.shell.label), row('turbo', PATHS.turbo.label)],
      ),
    );
    const single = m('single', (x) => x.total);
    const ratio = single / shell.wall;
    w(`\none process / shell, wall: **${ratio.toFixed(2)}×** (target ≤ 1.0: ${ratio <= 1 ? 'met' : 'NOT met'}).\n`);

    const pnpm = { wall: m('pnpm', (x) => x.total), cpu: m('pnpm', (x) => x.cpu) };
    const kUp = pnpmStartsOnPath('demo');
    const kDown = pnpmStartsOnPath('down');
    const floor = single + (kUp + kDown) * pnpm.wall;
    const turbo = m('turbo', (x) => x.total);
    w(
      table(
        ['turbo path', 'wall'],
        [
          ['`pnpm --version` (one package-manager start)', `${fmt(pnpm.wall)} (CPU ${fmt(pnpm.cpu)})`],
          [
            `pnpm starts on the critical path: up ${kUp}, down ${kDown} (\`pnpm turbo\` itself + the longest task chain in turbo.json)`,
            String(kUp + kDown),
          ],
          [`floor: one process + ${kUp + kDown} × \`pnpm --version\``, fmt(floor)],
          ['`pnpm turbo run demo` + `down`', fmt(turbo)],
          ['**turbo / floor**', `**${(turbo / floor).toFixed(2)}×** (target ≤ 1.1: ${turbo / floor <= 1.1 ? 'met' : 'NOT met'})`],
        ],
      ),
    );

    // where the turbo path's time goes beyond the floor: the same graph with nothing in its tasks
    const emptyNode = m('emptyNode', (x) => x.total);
    const emptyZx = m('emptyZx', (x) => x.total);
    const vsFloor = (ms) => `${(ms / floor).toFixed(2)}×`;
    w('\nThe same turbo graph with nothing in its tasks (bench/empty-graph.mjs), each round in turn with the paths above:\n');
    w(
      table(
        ['run', 'wall', '× floor', 'what it adds'],
        [
          [`${PATHS.emptyNode.label} (the least any task run by Node costs)`, fmt(emptyNode), vsFloor(emptyNode), ''],
          [
            `${PATHS.emptyZx.label} (zx found and loaded as ours are)`,
            fmt(emptyZx),
            vsFloor(emptyZx),
            `zx: ${fmt(emptyZx - emptyNode)} over \`node -e 0\` tasks`,
          ],
          ['empty zx graph + the one-process time', fmt(emptyZx + single), vsFloor(emptyZx + single), ''],
          [
            '`pnpm turbo run demo` + `down` (ours)',
            fmt(turbo),
            vsFloor(turbo),
            `${fmt(turbo - emptyZx - single)} over the empty zx graph + one process (${(turbo / (emptyZx + single)).toFixed(2)}×)`,
          ],
        ],
      ),
    );
    w(
      emptyNode + single > 1.1 * floor
        ? `\nThe graph with empty \`node -e 0\` tasks plus the one-process work already takes ${vsFloor(emptyNode + single)} the floor: no turbo path whose tasks start Node meets ≤ 1.1× as the floor is defined (it counts \`pnpm --version\`, not \`pnpm run\` with its shell and a Node start per task).\n`
        : `\nThe graph with empty \`node -e 0\` tasks plus the one-process work takes ${vsFloor(emptyNode + single)} the floor.\n`,
    );

    // the one-process path's steps, as its own status lines time them (stages included)
    const keys = [...new Set(res.single.flatMap((x) => x.steps.map((s) => s.key)))];
    w('\nThe one-process path step by step (its own status lines; steps that overlap run at the same time):\n');
    w(
      table(
        ['step', 'median', 'fastest … slowest'],
        keys.map((k) => {
          const xs = res.single.flatMap((x) => x.steps.filter((s) => s.key === k).map((s) => s.ms));
          return [k, fmt(median(xs)), `${fmt(Math.min(...xs))} … ${fmt(Math.max(...xs))}`];
        }),
      ),
    );

    // what the one-process path does beyond the shell script, each timed on its own
    note('(a) extras');
    await timed(PATHS.single.up, env1);
    let extras;
    try {
      extras = await measureLive(env1, ROUNDS);
    } finally {
      await timed(PATHS.single.down, env1);
    }
    extras.push(...(await measureAfterDown(env1, ROUNDS)));
    const sum = { wall: extras.reduce((a, x) => a + x.wall, 0), cpu: extras.reduce((a, x) => a + x.cpu, 0) };
    w(`\nWhat the one-process path does beyond the shell script, each measured on its own (medians of ${ROUNDS}; per up + down):\n`);
    w(
      table(
        ['extra', 'when', 'wall', 'CPU', 'measured as'],
        [
          ...extras.map((x) => [x.what, x.when, `${x.wall.toFixed(1)} ms`, `${x.cpu.toFixed(1)} ms`, x.how]),
          ['**all of them**', '', `**${sum.wall.toFixed(0)} ms**`, `**${sum.cpu.toFixed(0)} ms**`, 'sum'],
        ],
      ),
    );
    const singleCpu = m('single', (x) => x.cpu);
    w(
      '\nThe comparison both ways (without: the one-process medians minus the sum above; extras that overlap other work cost less wall than alone, so this is the lower bound):\n',
    );
    w(
      table(
        ['', 'wall', 'wall / shell', 'CPU', 'CPU / shell'],
        [
          [
            'one process, with its extras (as users run it)',
            fmt(single),
            `${ratio.toFixed(2)}×`,
            fmt(singleCpu),
            `${(singleCpu / shell.cpu).toFixed(2)}×`,
          ],
          [
            'one process, without them',
            fmt(single - sum.wall),
            `${((single - sum.wall) / shell.wall).toFixed(2)}×`,
            fmt(singleCpu - sum.cpu),
            `${((singleCpu - sum.cpu) / shell.cpu).toFixed(2)}×`,
          ],
          ['plain shell', fmt(shell.wall), '1.00×', fmt(shell.cpu), '1.00×'],
        ],
      ),
    );
    w('');
  });
}

async function sectionB() {
  await section(`(b) N containers up (with verify) and down (medians of ${SIZE_ROUNDS} rounds)`, async (w) => {
    const sizes = [];
    for (const n of SIZES) {
      const env = { ...baseEnv, CNI_DEMO_CONTAINERS: String(n) };
      const runs = { single: [], shell: [] };
      for (let r = 0; r < SIZE_ROUNDS; r++) {
        for (const key of r % 2 ? ['shell', 'single'] : ['single', 'shell']) {
          note(`(b) N=${n} round ${r + 1}/${SIZE_ROUNDS} ${key}`);
          runs[key].push(await upDown(key, env));
        }
      }
      const m = (key, f) => median(runs[key].map(f));
      sizes.push({
        n,
        ...Object.fromEntries(
          ['single', 'shell'].map((k) => [
            k,
            { up: m(k, (x) => x.up), down: m(k, (x) => x.down), total: m(k, (x) => x.total), cpu: m(k, (x) => x.cpu) },
          ]),
        ),
      });
    }
    const one = sizes.find((s) => s.n === 1);
    const marginal = (s, k) => (one && s.n > 1 ? (s[k].total - one[k].total) / (s.n - 1) : Number.NaN);
    w(
      table(
        [
          'N',
          'ours up',
          'ours down',
          'ours wall ms/container',
          'ours CPU ms/container',
          'shell up',
          'shell down',
          'shell wall ms/container',
          'shell CPU ms/container',
          'ours/shell wall',
          'ours/shell CPU',
          'marginal wall ms/container ours (shell)',
        ],
        sizes.map((s) => [
          String(s.n),
          fmt(s.single.up),
          fmt(s.single.down),
          (s.single.total / s.n).toFixed(0),
          (s.single.cpu / s.n).toFixed(0),
          fmt(s.shell.up),
          fmt(s.shell.down),
          (s.shell.total / s.n).toFixed(0),
          (s.shell.cpu / s.n).toFixed(0),
          `${(s.single.total / s.shell.total).toFixed(2)}×`,
          `${(s.single.cpu / s.shell.cpu).toFixed(2)}×`,
          s.n > 1 && one ? `${marginal(s, 'single').toFixed(0)} (${marginal(s, 'shell').toFixed(0)})` : '-',
        ]),
      ),
    );
    w(
      '\nms/container = (up + down) / N; marginal = (T(N) − T(1)) / (N − 1), the cost of one more container. The shell loop does ' +
        'one container after another; ours runs `--concurrency` (8) at a time.\n',
    );
  });
}

/** Peak memory of the largest single process of a command's tree: its processes' VmHWM, sampled every 20 ms. */
function peakRss(cmd, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd.slice(1), { cwd: repo, env, stdio: 'ignore' });
    let peak = 0;
    const tree = () => {
      const parent = new Map();
      for (const p of readdirSync('/proc')) {
        if (!/^\d+$/.test(p)) continue;
        try {
          const s = readFileSync(`/proc/${p}/stat`, 'utf8');
          parent.set(Number(p), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
        } catch {
          /* gone */
        }
      }
      const mine = new Set([child.pid]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const [p, pp] of parent) {
          if (mine.has(pp) && !mine.has(p)) {
            mine.add(p);
            grew = true;
          }
        }
      }
      for (const p of mine) {
        try {
          const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
          peak = Math.max(peak, kb);
        } catch {
          /* gone */
        }
      }
    };
    const timer = setInterval(tree, 20);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`${cmd.join(' ')} failed (exit ${code})`));
      else resolve(peak);
    });
  });
}

async function sectionC() {
  await section('(c) peak memory: the largest single process of each path (VmHWM, sampled every 20 ms)', async (w) => {
    const rows = [];
    const sizes = [...new Set([1, ...SIZES.filter((n) => n > 1).slice(-1)])];
    for (const n of sizes) {
      const env = { ...baseEnv, CNI_DEMO_CONTAINERS: String(n) };
      for (const key of n === 1 ? ['single', 'shell', 'turbo'] : ['single', 'shell']) {
        note(`(c) N=${n} ${key}`);
        const peak = Math.max(await peakRss(PATHS[key].up, env), await peakRss(PATHS[key].down, env));
        rows.push([`N=${n} ${PATHS[key].label}`, `${(peak / 1024).toFixed(0)} MB`]);
      }
    }
    w(table(['run', 'peak RSS of one process'], rows));
    w(
      "\nThe turbo path's peak is its largest process (turbo, pnpm or a step's node); the shell's is its largest tool " +
        '(runc, a plugin, jq). A process shorter than the sampling interval can be missed.\n',
    );
  });
}

const header = [
  '# Benchmarks',
  '',
  `Written by \`pnpm bench\` (bench/run.mjs) on ${new Date().toISOString()}. Names: id t6bench, bridge t6bbr0,`,
  'network t6bnet, 172.24.250.0/24 and fd00:c1d:18fa::/64, every root under a temp folder. Wall time is the',
  "command's start to its exit; CPU is user + system of it and every process it waited for.",
  '',
  '## Machine',
  '',
  table(['', ''], machineRows),
  '',
];
// the other benches (bench:cni, bench:nodes) own a section of this file each, between their markers
// (<!-- bench:<name> start --> … <!-- bench:<name> end -->): carried over as they are
const previous = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
const sections = markedSections(previous);
writeFileSync(OUT, `${header.join('\n')}\n${out.join('\n')}\n${sections.map((x) => `\n${x}\n`).join('')}`);
note(`wrote ${path.relative(repo, OUT)}`);
