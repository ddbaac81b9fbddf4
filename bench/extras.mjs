// What the one-process path does beyond bench/shell/demo.sh, each timed on its own (for bench/run.mjs): the
// same calls the pipeline makes, on the bench's live instance, repeated and taken as medians. Nothing here
// touches the instance: copies go to a temp folder (the host record to a temp record folder with a temp sysctl
// tree, so no forwarding sysctl is ever written).
//   measureLive(env, rounds)   after `cni-demo up`: state files, host record, instance lock, timings, report
//   measureAfterDown(env, rounds)   after `cni-demo down`: the leak audit
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (pkg) => pathToFileURL(path.join(repo, 'packages', pkg, 'dist/src/index.js')).href;
const core = await import(dist('core'));
const cni = await import(dist('cni'));
const verify = await import(dist('verify'));
const logKeeper = await import(pathToFileURL(path.join(repo, 'packages/runc-bundle/dist/src/log-keeper.js')).href);

/** CPU of this process and of the children it waited for, ms. */
export function cpuMs() {
  const u = process.cpuUsage();
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // cutime and cstime (fields 16 and 17) in clock ticks: USER_HZ is 100 on Linux
  return (u.user + u.system) / 1000 + (Number(f[13]) + Number(f[14])) * 10;
}

/** The host record of this network namespace (/var/lib/cni-demo), as the demo reads it. */
export const readHostRecord = () => core.readHostRecord();
/** The instances of this boot that hold the forwarding sysctls in a host record. */
export const forwardingHolders = (r) => core.forwardingHolders(r);
/** The forwarding sysctls the bridge plugin turns on, and their values now. */
export const forwardingNow = () => Object.fromEntries(core.FORWARDING_SYSCTLS.map((k) => [k, core.readSysctlAt(k)]));

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs fn `rounds` times (after one untimed run); medians of wall and CPU ms. */
async function time(rounds, fn) {
  await fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < rounds; i++) {
    const c0 = cpuMs();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    cpu.push(cpuMs() - c0);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

function context(env, stateDir) {
  const { config } = core.resolveConfig({ argv: [], env: { ...env, ...(stateDir ? { CNI_DEMO_STATE_DIR: stateDir } : {}) } });
  return core.createContext(config, { log: core.createLogger({ quiet: true }) });
}

/**
 * The first lock of a process starts its flock helper (a perl process): timed inside fresh Node processes,
 * with and without taking the lock, so neither Node's start nor the module's load is counted.
 */
function lockInFreshProcess(dir, rounds) {
  const flock = pathToFileURL(path.join(repo, 'packages/flock/dist/src/index.js')).href;
  const script = (take) =>
    `const { lockFile } = await import(${JSON.stringify(flock)});` +
    'const t = performance.now();' +
    (take ? `const l = await lockFile(${JSON.stringify(path.join(dir, 'bench.lock'))}); l.releaseSync();` : '') +
    'process.stdout.write(String(performance.now() - t));';
  const one = (take) => {
    const c0 = cpuMs();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(take)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`lock probe failed: ${r.stderr}`);
    return { wall: Number(r.stdout), cpu: cpuMs() - c0 };
  };
  one(true);
  const with_ = [];
  const without = [];
  for (let i = 0; i < rounds; i++) {
    with_.push(one(true));
    without.push(one(false));
  }
  return {
    wall: median(with_.map((x) => x.wall)) - median(without.map((x) => x.wall)),
    cpu: Math.max(0, median(with_.map((x) => x.cpu)) - median(without.map((x) => x.cpu))),
  };
}

/**
 * After `cni-demo up` (N = 1): the extras of up and down that need the live instance. Returns rows
 * { what, when, wall, cpu, how }, costs per whole up + down.
 */
export async function measureLive(env, rounds) {
  const live = context(env);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 't6bench-extras-'));
  try {
    const rows = [];
    // the steps that ran (a step with nothing to do for this config, such as nodes with one node, writes none)
    const states = Object.fromEntries(core.STEPS.map((s) => [s, live.state.read(s)]).filter(([, v]) => v !== undefined));
    for (const s of ['host-setup', 'image-fetch', 'runc-bundle', 'cni-attach', 'verify']) {
      if (!states[s]) throw new Error(`the live instance has no ${s} state`);
    }

    // state files: each step writes its own (atomically, fsynced) and the later steps read them back; down
    // reads them again and removes them. The conflist copy cni-attach keeps for DEL goes the same way.
    const store = new core.StateStore(path.join(tmp, 'state', 'run'));
    const conflist = readFileSync(live.names.confFile);
    rows.push({
      what: 'state files (one per step, plus the conflist copy for DEL), written atomically with fsync, read back, removed',
      when: 'up, down',
      how: 'the same writes into a temp folder',
      ...(await time(rounds, () => {
        for (const [s, v] of Object.entries(states)) store.write(s, v);
        core.writeFileAtomic(path.join(store.dir, 'cni-attach.conflist'), conflist, 0o600);
        for (let k = 0; k < 3; k++) for (const s of Object.keys(states)) store.read(s);
        for (const s of Object.keys(states)) store.remove(s);
        rmSync(path.join(store.dir, 'cni-attach.conflist'), { force: true });
        store.removeDirIfEmpty();
      })),
    });

    // the host record: joined by host-setup up, left by host-setup down (the last one out puts the forwarding
    // sysctls back: here into a temp copy of them)
    const sysctlRoot = path.join(tmp, 'sys');
    for (const key of core.FORWARDING_SYSCTLS) {
      const file = path.join(sysctlRoot, ...key.split('.'));
      mkdirSync(path.dirname(file), { recursive: true });
      copyFileSync(path.join('/proc/sys', ...key.split('.')), file);
    }
    const recOpts = { dir: path.join(tmp, 'record'), sysctlRoot, netns: 'net:[1]' };
    const host = states['host-setup'];
    rows.push({
      what: 'host record (/var/lib/cni-demo): joined at up, left at down, under its lock',
      when: 'up, down',
      how: 'join + leave on a temp record',
      ...(await time(rounds, async () => {
        await core.joinHostRecord(
          path.join(tmp, 'run'),
          { id: live.config.id, bridge: host.bridge, network: live.config.network, createdBridge: true, createdDirs: host.createdDirs },
          recOpts,
        );
        await core.leaveHostRecord(path.join(tmp, 'run'), recOpts);
      })),
    });

    const lock = lockInFreshProcess(tmp, rounds);
    rows.push({
      what: 'instance lock: the first lock of each process starts its flock helper (up and down: 2)',
      when: 'up, down',
      how: 'first lock in a fresh process, minus the same process without it, ×2',
      wall: lock.wall * 2,
      cpu: lock.cpu * 2,
    });

    const runDir = path.join(tmp, 'timings');
    mkdirSync(runDir, { recursive: true });
    rows.push({
      what: 'step timings (timings.jsonl): one line per step, read back by the report',
      when: 'up, down',
      how: '5 appends + a read into a temp folder',
      ...(await time(rounds, () => {
        for (const step of core.STEPS) {
          core.recordTiming(runDir, { step, action: 'up', startedAt: new Date().toISOString(), durationMs: 1, ok: true });
        }
        core.readTimings(runDir);
        core.removeTimings(runDir);
      })),
    });

    // the report and its picture: what verify reads for them beyond its checks (the host's links and routes,
    // plugin versions) and the three files, written into a temp run folder. The container's netns is read once
    // for the checks and the picture together: that read is made before the timing, as the checks make it.
    const reportCtx = context(env, path.join(tmp, 'report-state'));
    reportCtx.state.ensureDir();
    const att = states['cni-attach'];
    const input = { checks: states.verify.checks, host, attachments: core.attachmentsOf(att) };
    const shared = verify.sharedNetnsReader(live.exec);
    await Promise.all(input.attachments.map((a) => shared(a.netns)));
    rows.push({
      what: 'report.json, report.md and topology.svg: the host read back (one ip process), plugin versions (cached), three files',
      when: 'up',
      how: 'the same reads and writes, files into a temp folder; the netns read shared with the checks',
      ...(await time(rounds, () => verify.writeReport(reportCtx, input, verify.startReportReads(reportCtx, host, shared)))),
    });

    // the CNI result cache: libcni's format, written with fsync (the shell keeps the result in a plain file)
    const cacheDir = path.join(tmp, 'cni-cache');
    const entry = cni.readCacheEntry(live.config.cniCacheDir, att.network, att.containerId, att.ifName);
    if (entry?.kind === 'cniCacheV1') {
      const w = async (fsync) =>
        time(rounds, () => {
          cni.writeCacheEntry(cacheDir, entry, { fsync });
          cni.deleteCacheEntry(cacheDir, entry.networkName, entry.containerId, entry.ifName);
        });
      const [durable, plain] = [await w(true), await w(false)];
      rows.push({
        what: "the CNI result cache entry's fsync (libcni's format; the shell writes the result plainly)",
        when: 'up',
        how: 'write + delete with fsync, minus without',
        wall: Math.max(0, durable.wall - plain.wall),
        cpu: Math.max(0, durable.cpu - plain.cpu),
      });
    }
    rows.push({
      what: "the bridge's ownership mark (its alias)",
      when: 'up',
      how: 'one more line in the same ip -batch: no process of its own',
      wall: 0,
      cpu: 0,
    });

    // the container's output: the shell sends it to a file as it comes; ours goes through a keeper (perl) that
    // keeps it under --container-log-max-bytes
    const logDir = path.join(tmp, 'log');
    mkdirSync(logDir);
    rows.push({
      what: "the container's output kept under its cap: a keeper process (perl) reads it into container.log",
      when: 'up',
      how: 'a keeper for one log: started, one line through it, its end, the keeper gone',
      ...(await time(rounds, async () => {
        const keeper = logKeeper.startLogKeeper([path.join(logDir, 'container.log')], live.config.containerLogMaxBytes);
        // the keeper is unreferenced (it outlives the step): hold the loop until it is gone
        const hold = setInterval(() => undefined, 1000);
        try {
          await new Promise((resolve, reject) => keeper.pipe(0).write('cni-demo bench\n', (e) => (e ? reject(e) : resolve())));
          keeper.close(0);
          await keeper.tail(0);
          keeper.release();
          await keeper.exited;
        } finally {
          clearInterval(hold);
        }
      })),
    });
    return rows;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** After `cni-demo down` (N = 1): the leak audit that ends it. */
export async function measureAfterDown(env, rounds) {
  const ctx = context(env);
  const t = await time(rounds, async () => {
    const leaks = await verify.auditLeaks(ctx);
    if (leaks.length > 0) throw new Error(`the leak audit found ${leaks.length} object(s) after down`);
  });
  return [
    {
      what: 'leak audit at the end of down: every object by its derived name (iptables, runc, mounts, leases, cache, record)',
      when: 'down',
      how: 'the same audit after the bench instance is down',
      ...t,
    },
  ];
}
