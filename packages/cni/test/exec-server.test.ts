// The exec server against plain spawn: every guarantee of the spawn path, checked both ways, and the
// exec server's own duties (really serving the calls, falling back, pooling, cleaning up). The "plugins"
// here are coreutils programs and small scripts: what is checked is the process boundary, not CNI.
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CniError,
  CniRuntime,
  execServerPluginExec,
  execServerStats,
  type PluginExec,
  type PluginRequest,
  spawnPluginExec,
  stopExecServers,
} from '../src/index.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'cni-xs-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const SIX = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/t3s-x y',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1;IP=172.27.0.9',
  CNI_PATH: '/usr/lib/cni:/opt/x',
};
const both: [string, PluginExec][] = [
  ['exec-server', execServerPluginExec],
  ['spawn', spawnPluginExec],
];

function script(name: string, body: string, mode = 0o755): string {
  const file = path.join(root, name);
  writeFileSync(file, body, { mode });
  chmodSync(file, mode);
  return file;
}
const req = (pluginPath: string, over: Partial<PluginRequest> = {}): PluginRequest => ({
  pluginPath,
  env: SIX,
  stdin: Buffer.from('{"cniVersion":"1.0.0","name":"n"}'),
  timeoutMs: 10_000,
  ...over,
});
const lines = (s: string) =>
  s
    .split('\n')
    .filter((l) => l !== '')
    .sort();
const served = () => execServerStats().served;

/** Sets these variables (undefined deletes) for the duration of fn, then restores process.env. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = new Map(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('environment: exactly what spawn passes, also with the variables bash reads or rewrites', async () => {
  const cases: Record<string, string | undefined>[] = [
    {},
    { _: '/usr/bin/node', SHLVL: '3', PWD: '/nonexistent', OLDPWD: '/x' },
    { _: undefined, SHLVL: undefined, PWD: undefined, OLDPWD: undefined },
    { d: 'short', f: 'names', go: 'a', r: 'script', u: 'might', st: 'use', kv: 'too' },
    { SHLVL: 'abc', 'B.C': 'dotted name', 'a-b': 'dash', SPACES: '  lead and trail  ', NL: 'multi\nline', CNI_ARGS: 'X=1' },
    { BASH_ENV: script('evil.sh', 'echo EVIL >&2\n'), ENV: '/x', TMOUT: '1', IFS: 'x', PS4: '+', CDPATH: '/', GLOBIGNORE: '*' },
  ];
  for (const vars of cases) {
    await withEnv(vars, async () => {
      const before = served();
      const viaServer = await execServerPluginExec(req('/usr/bin/printenv'));
      assert.is(served(), before + 1, `${JSON.stringify(vars)}: the exec server ran it`);
      const viaSpawn = await spawnPluginExec(req('/usr/bin/printenv'));
      assert.equal(lines(viaServer.stdout), lines(viaSpawn.stdout), JSON.stringify(vars));
      assert.ok(viaServer.stdout.includes('CNI_NETNS=/var/run/netns/t3s-x y\n'));
      assert.is(viaServer.stderr, '', 'BASH_ENV was not run');
    });
  }
  // an environment bash cannot hand on unchanged is spawned, and still exact
  for (const vars of [{ SHELLOPTS: 'xtrace' }, { 'BASH_FUNC_f%%': '() { echo hi; }' }, { SECONDS: '5' }]) {
    await withEnv(vars, async () => {
      const before = execServerStats();
      const viaServer = await execServerPluginExec(req('/usr/bin/printenv'));
      assert.is(execServerStats().served, before.served, `${JSON.stringify(vars)}: not through the exec server`);
      assert.is(execServerStats().missed.environment, before.missed.environment + 1);
      const viaSpawn = await spawnPluginExec(req('/usr/bin/printenv'));
      assert.equal(lines(viaServer.stdout), lines(viaSpawn.stdout));
    });
  }
});

test('requests the line cannot carry (tab, newline in a value) are spawned, byte-exact', async () => {
  for (const env of [
    { ...SIX, CNI_ARGS: 'A=1\tB=2' },
    { ...SIX, CNI_NETNS: 'a\nb' },
  ]) {
    const before = execServerStats();
    const r = await execServerPluginExec(req('/usr/bin/printenv', { env }));
    assert.is(execServerStats().missed.request, before.missed.request + 1);
    const s = await spawnPluginExec(req('/usr/bin/printenv', { env }));
    assert.equal(lines(r.stdout), lines(s.stdout));
  }
});

test('stdin bytes, stdout, stderr, exit codes and signals come back as with spawn', async () => {
  const echo = script('echo-plugin', '#!/bin/sh\ncat\necho "to stderr $CNI_COMMAND" >&2\nexit 3\n');
  const killed = script('killed-plugin', '#!/bin/sh\nkill -TERM $$\n');
  const stdin = Buffer.from('{"name":"ünïcode","n":[1,2,3]}\n\u0000tail');
  for (const [name, exec] of both) {
    const before = served();
    const r = await exec(req(echo, { stdin }));
    assert.is(r.exitCode, 3, name);
    assert.is(r.signal, null);
    assert.equal(Buffer.from(r.stdout, 'utf8'), stdin, `${name}: stdin reached the plugin byte for byte`);
    assert.is(r.stderr, 'to stderr ADD\n');
    assert.is(r.timedOut, false);
    const k = await exec(req(killed));
    assert.is(k.exitCode, null, name);
    assert.is(k.signal, 'SIGTERM', name);
    if (name === 'exec-server') assert.is(served(), before + 2);
  }
});

test('the plugin leads its own process group, has only stdio open, default signal handling, our cwd', async () => {
  // each probe execs one program, so what it reports is the plugin process as the runtime started it
  const stat = script('stat-plugin', '#!/bin/sh\nexec cat /proc/self/stat\n');
  const fds = script('fd-plugin', '#!/bin/sh\nexec ls /proc/self/fd\n');
  const sig = script('sig-plugin', '#!/bin/sh\nexec grep -E "^Sig(Blk|Ign)" /proc/self/status\n');
  const cwd = script('cwd-plugin', '#!/bin/sh\nexec pwd -P\n');
  const fdLists: string[][] = [];
  for (const [name, exec] of both) {
    const before = served();
    const st = (await exec(req(stat))).stdout;
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    assert.is(f[2], st.split(' ')[0], `${name}: pgid is the plugin's pid`);
    fdLists.push(lines((await exec(req(fds))).stdout));
    assert.is((await exec(req(sig))).stdout, 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n', name);
    assert.is((await exec(req(cwd))).stdout, `${process.cwd()}\n`, name);
    if (name === 'exec-server') assert.is(served(), before + 4);
  }
  // fds this process got without CLOEXEC (from whoever started the tests) reach both alike; the helper adds none
  assert.equal(fdLists[0], fdLists[1], 'the same open fds');
  const elsewhere = mkdtempSync(path.join(root, 'cwd-'));
  const here = process.cwd();
  process.chdir(elsewhere);
  try {
    const before = execServerStats();
    assert.is((await execServerPluginExec(req(cwd))).stdout, `${elsewhere}\n`, 'a changed cwd gets a helper started there');
    assert.is(execServerStats().served, before.served + 1);
  } finally {
    process.chdir(here);
  }
});

test('timeout kills the whole process group, a grandchild holding stdout too', async () => {
  const hang = script('hang-plugin', '#!/bin/sh\nsleep 300 &\necho $! > "$1"\nwait\n');
  for (const [name, exec] of both) {
    const pidFile = path.join(root, `hang-${name}`);
    const h = script(`hang-${name}`, readFileSync(hang, 'utf8').replace('"$1"', pidFile));
    const t0 = Date.now();
    const r = await exec(req(h, { timeoutMs: 500 }));
    assert.ok(Date.now() - t0 < 3000, `${name}: returned after ${Date.now() - t0} ms`);
    assert.is(r.timedOut, true);
    assert.is(r.signal, 'SIGKILL');
    const sleeper = Number(readFileSync(pidFile, 'utf8'));
    let alive = true;
    for (let i = 0; i < 40 && alive; i++) {
      const st = existsSync(`/proc/${sleeper}/stat`) ? readFileSync(`/proc/${sleeper}/stat`, 'utf8') : '';
      alive = st !== '' && !/\) Z /.test(st);
      if (alive) await new Promise((res) => setTimeout(res, 50));
    }
    assert.not.ok(alive, `${name}: the sleep grandchild was killed`);
  }
  // the exec server still works after a timeout (the helper that timed out was retired)
  const ok = await execServerPluginExec(req('/usr/bin/printenv'));
  assert.is(ok.exitCode, 0);
});

test('exec failures give spawn errors (not executable, not found); a file without #! is left to spawn', async () => {
  const noexec = script('noexec-plugin', '#!/bin/sh\necho ran\n', 0o644);
  for (const [name, exec] of both) {
    for (const [file, code] of [
      [noexec, 'EACCES'],
      [path.join(root, 'missing-plugin'), 'ENOENT'],
    ] as const) {
      try {
        await exec(req(file));
        assert.unreachable(`${name}: ${file} should not run`);
      } catch (e) {
        assert.is((e as NodeJS.ErrnoException).code, code, `${name}: ${file}: ${e}`);
      }
    }
  }
  // spawn (libuv's execvp) runs a text file without #! with /bin/sh; bash would run it itself, so the
  // exec server hands such files to spawn and the behaviour stays spawn's
  const plain = script('plain-plugin', 'echo "ran $CNI_COMMAND"\n');
  const before = execServerStats();
  const viaServer = await execServerPluginExec(req(plain));
  assert.is(execServerStats().missed.request, before.missed.request + 1);
  assert.is(execServerStats().served, before.served);
  const viaSpawn = await spawnPluginExec(req(plain));
  assert.equal({ ...viaServer }, { ...viaSpawn });
  const cni = new CniRuntime({ pluginDirs: [root], cacheDir: path.join(root, 'cache') });
  try {
    await cni.getVersionInfo('noexec-plugin');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CniError);
    assert.match((e as CniError).msg, /fork\/exec .*noexec-plugin: permission denied/);
  }
});

test('"text file busy" is retried through the exec server too', async () => {
  const file = script('busy-plugin', '#!/bin/sh\necho "{\\"ok\\":1}"\n');
  for (const [name, exec] of both) {
    const fd = openSync(file, 'r+'); // open for writing: execve fails with ETXTBSY
    setTimeout(() => closeSync(fd), 300);
    const t0 = Date.now();
    const r = await exec(req(file));
    assert.is(r.exitCode, 0, name);
    assert.ok(Date.now() - t0 >= 900, `${name}: retried a second later`);
    assert.is(r.stdout, '{"ok":1}\n');
  }
});

test('parallel calls run in parallel on as many helpers, which are reused', async () => {
  const slow = script('slow-plugin', '#!/bin/sh\nsleep 0.4\necho done\n');
  await execServerPluginExec(req(slow)); // one helper exists already
  const before = execServerStats();
  const t0 = Date.now();
  const rs = await Promise.all(Array.from({ length: 6 }, () => execServerPluginExec(req(slow))));
  const took = Date.now() - t0;
  assert.ok(took < 1800, `6 calls of 0.4 s took ${took} ms`);
  for (const r of rs) assert.is(r.stdout, 'done\n');
  const after = execServerStats();
  assert.is(after.served, before.served + 6);
  assert.ok(after.started - before.started <= 6, 'at most one new helper per call in flight');
  await Promise.all(Array.from({ length: 6 }, () => execServerPluginExec(req(slow))));
  assert.is(execServerStats().started, after.started, 'the second round reused them');
});

test('a helper killed while idle is replaced; stopExecServers ends them all and removes their directories', async () => {
  await execServerPluginExec(req('/usr/bin/printenv'));
  const pids = helperPids();
  assert.ok(pids.length > 0);
  for (const p of pids) process.kill(p, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  const before = served();
  const r = await execServerPluginExec(req('/usr/bin/printenv'));
  assert.is(r.exitCode, 0);
  assert.is(served(), before + 1);
  stopExecServers();
  assert.is(execServerStats().alive, 0);
  await new Promise((r) => setTimeout(r, 100));
  for (const p of helperPids()) assert.unreachable(`helper ${p} still runs`);
});

test('a process that used the exec server exits at once and leaves no helper or directory behind', async () => {
  const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.js');
  const child = path.join(root, 'child.mjs');
  writeFileSync(
    child,
    `import { execServerPluginExec } from ${JSON.stringify(index)};
import { readdirSync } from 'node:fs';
const r = await execServerPluginExec({ pluginPath: '/usr/bin/printenv', env: { CNI_COMMAND: 'ADD' }, stdin: Buffer.from(''), timeoutMs: 5000 });
console.log(JSON.stringify({ code: r.exitCode }));
`,
  );
  const dirsBefore = new Set(readdirSync('/dev/shm').filter((d) => d.startsWith('cni-exec-')));
  const t0 = Date.now();
  const out = await new Promise<{ code: number | null; stdout: string; pid: number }>((resolve) => {
    const c = spawn(process.execPath, [child], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.on('close', (code) => resolve({ code, stdout, pid: c.pid ?? 0 }));
  });
  assert.is(out.code, 0);
  assert.equal(JSON.parse(out.stdout), { code: 0 });
  assert.ok(Date.now() - t0 < 5000, 'an idle helper does not keep Node alive');
  await new Promise((r) => setTimeout(r, 100));
  const left = readdirSync('/dev/shm').filter((d) => d.startsWith('cni-exec-') && !dirsBefore.has(d));
  assert.equal(left, [], 'the helper directory is gone');
});

test('a process killed while a plugin runs leaves no helper or directory behind once the plugin ends', async () => {
  const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.js');
  const slow = script('slow-for-kill', '#!/bin/sh\nsleep 0.5\necho done\n');
  const child = path.join(root, 'child-killed.mjs');
  writeFileSync(
    child,
    `import { execServerPluginExec } from ${JSON.stringify(index)};
setTimeout(() => console.log('started'), 100);
await execServerPluginExec({ pluginPath: ${JSON.stringify(slow)}, env: { CNI_COMMAND: 'ADD' }, stdin: Buffer.from(''), timeoutMs: 5000 });
`,
  );
  const dirsBefore = new Set(readdirSync('/dev/shm').filter((d) => d.startsWith('cni-exec-')));
  const c = spawn(process.execPath, [child], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => c.stdout.once('data', () => resolve()));
  const mine = readdirSync('/dev/shm').filter((d) => d.startsWith('cni-exec-') && !dirsBefore.has(d));
  assert.is(mine.length, 1, 'the child has a helper directory while the plugin runs');
  c.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 1200)); // the plugin ends after 0.5 s, the helper then finds Node gone
  assert.not.ok(existsSync(path.join('/dev/shm', mine[0] as string)), 'the helper removed its directory');
  const left = readdirSync('/proc').filter((d) => {
    try {
      return /^\d+$/.test(d) && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(mine[0] as string);
    } catch {
      return false;
    }
  });
  assert.equal(left, [], 'no helper or job of the killed process is left');
});

/** bash helpers that are children of this process */
function helperPids(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (cmd[0] === '/bin/bash' && cmd.includes('cni-exec-server') && Number(f[1]) === process.pid && f[0] !== 'Z') out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

test.run();
