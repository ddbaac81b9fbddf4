import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { asUser, createExec, type Exec, lookupUser, type RootlessUser } from '@cni-demo/core';
import type { ForgeSpec, PlantReport, PlantSpec } from './attacker-main.js';

export type { ForgeSpec, PlantReport, PlantSpec };

/** The attacker script, run as the unprivileged user (see attacker-main.ts). */
export const ATTACKER_MAIN = fileURLToPath(new URL('./attacker-main.js', import.meta.url));

export interface TestUser extends RootlessUser {
  remove(): Promise<void>;
}

/**
 * A real unprivileged user for a test (a system account, no home, no login shell), named from
 * CNI_TEST_PREFIX so parallel developers never share one. `remove()` deletes it again.
 */
export async function createTestUser(prefix: string, exec: Exec = createExec()): Promise<TestUser> {
  const name = `${prefix}u${randomBytes(3).toString('hex')}`;
  await exec('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  const u = lookupUser(name);
  if (!u) throw new Error(`useradd ${name} made no passwd entry`);
  return { ...u, remove: async () => void (await exec('userdel', [name], { allowFail: true })) };
}

export interface Canaries {
  /** a root-owned file (0600) with random content */
  file: string;
  /** a root-owned folder (0700) holding a file and a folder of its own */
  dir: string;
}

/** Root-owned canary files and folders under `root`: what an attack tries to write, truncate or chown through a link. */
export function makeCanaries(root: string): Canaries {
  const dir = path.join(root, 'canary-dir');
  mkdirSync(path.join(dir, 'sub'), { recursive: true, mode: 0o700 });
  const file = path.join(root, 'canary-file');
  writeFileSync(file, `canary ${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  writeFileSync(path.join(dir, 'inner'), `inner ${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  writeFileSync(path.join(dir, 'sub', 'deep'), `deep ${randomBytes(16).toString('hex')}\n`, { mode: 0o644 });
  return { file, dir };
}

/** Owner, mode and content hash of every canary path (folders: their entries too), one line each, to compare before and after. */
export function canarySnapshot(c: Canaries): string {
  const lines: string[] = [];
  const visit = (p: string) => {
    const st = lstatSync(p);
    const what = st.isDirectory()
      ? `entries=${readdirSync(p).sort().join(',')}`
      : st.isFile()
        ? `sha256=${createHash('sha256').update(readFileSync(p)).digest('hex')} size=${st.size}`
        : 'not a file';
    lines.push(`${p} uid=${st.uid} gid=${st.gid} mode=${(st.mode & 0o7777).toString(8)} ${what}`);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) visit(path.join(p, n));
  };
  visit(c.file);
  visit(c.dir);
  return lines.join('\n');
}

function attackerArgv(user: RootlessUser, mode: string, spec: unknown): [string, string[]] {
  return asUser(user, process.execPath, [ATTACKER_MAIN, mode, JSON.stringify(spec)]);
}

/** One planting pass as the user; what it planted and how often the kernel refused. */
export async function plantOnce(user: RootlessUser, spec: PlantSpec, exec: Exec = createExec()): Promise<PlantReport> {
  const r = await exec(...attackerArgv(user, 'plant', spec), { env: { NODE_COMPILE_CACHE: '' } });
  return JSON.parse(r.stdout) as PlantReport;
}

/** Plants continuously (every few ms) as the user until stop(), which returns everything it managed. */
export function startPlanting(user: RootlessUser, spec: PlantSpec): { pid: number | undefined; stop(): Promise<PlantReport> } {
  const [cmd, args] = attackerArgv(user, 'loop', spec);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_COMPILE_CACHE: '' } });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return out.trim() ? (JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as PlantReport) : { passes: 0, planted: [], refused: 0 };
    },
  };
}

/** Rewrites the user's runc state.json (as the user) so that it names another process. */
export async function forgeRuncState(user: RootlessUser, spec: ForgeSpec, exec: Exec = createExec()): Promise<void> {
  await exec(...attackerArgv(user, 'forge', spec), { env: { NODE_COMPILE_CACHE: '' } });
}
