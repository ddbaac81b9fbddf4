import { spawn } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Config, createExec, type Exec, type HostRecord, hostRecordFile } from '@cni-demo/core';
import type { Cleanup } from './cleanup.js';
import { PACKAGES_DIR } from './procs.js';
import { tag, tempRoot, testPrefix } from './index.js';
import type { HostSnapshot } from './snapshot.js';

/**
 * A private network namespace for a test whose subject is host-wide: the forwarding sysctls belong to a
 * network namespace, so a test that runs the demo inside its own sees exactly its own effect, whatever the
 * other developers' tests on this host do to the host's. The plan also gets a mount namespace of its own with
 * /sys mounted afresh, so sysfs shows the namespace's links (the bridge's ports, its mark); everything the plan
 * mounts lives and dies with that one process, hence a plan, run as a whole.
 */
export interface NetnsStep {
  label: string;
  /** a command (argv) to run, e.g. the cli's up */
  run?: string[];
  /** a path to remove first (recursive), e.g. an instance's run folder */
  rm?: string;
  /** sysctls to write first, inside the namespace */
  set?: Record<string, string>;
  /** environment added to the command's */
  env?: Record<string, string>;
  /** text written to the command's stdin */
  input?: string;
}

export interface NetnsPlan {
  /** paths whose existence is noted after every step */
  watch: string[];
  /** when set, a hostSnapshot of the namespace with this instance's folders is noted after every step */
  snapshot?: Config;
  steps: NetnsStep[];
}

export interface NetnsObservation {
  label: string;
  code?: number | null;
  stderr?: string;
  sysctls: Record<string, string>;
  /** the host record of the namespace, null when there is none */
  record: HostRecord | null;
  exists: Record<string, boolean>;
  snapshot?: HostSnapshot;
}

/** The forwarding sysctls as a fresh machine has them, and turned on: what a plan's `set` step writes. */
export const FORWARDING_OFF: Record<string, string> = { 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0' };
export const FORWARDING_ON: Record<string, string> = { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' };

/**
 * The observation a plan made after the step `label`; throws when there is none and, unless `anyExit`, when
 * that step's command failed (its stderr in the message), so a test reads only what a finished step left.
 */
export function observation(obs: NetnsObservation[], label: string, opts: { anyExit?: boolean } = {}): NetnsObservation {
  const o = obs.find((x) => x.label === label);
  if (!o) throw new Error(`no observation "${label}"`);
  if (!opts.anyExit && o.code !== undefined && o.code !== 0) throw new Error(`${label} exited ${o.code}:\n${o.stderr}`);
  return o;
}

/** The host snapshot taken after the step `label` (the plan must ask for snapshots); the step must have succeeded. */
export function observedSnapshot(obs: NetnsObservation[], label: string): HostSnapshot {
  const o = observation(obs, label);
  if (!o.snapshot) throw new Error(`no snapshot "${label}"`);
  return o.snapshot;
}

export interface PrivateNetns {
  name: string;
  /** "net:[<inode>]", as the host record names it */
  netns: string;
  /** runs the plan inside the namespace; one observation for the start and one per step */
  run(plan: NetnsPlan): Promise<NetnsObservation[]>;
}

/** Makes the namespace (`<prefix>-fw-<tag>`) and registers its removal, and its host record's, on `cleanup`. */
export async function privateNetns(cleanup: Cleanup, exec: Exec = createExec()): Promise<PrivateNetns> {
  const name = `${testPrefix('t3')}-fw-${tag(2)}`;
  const pin = path.join('/var/run/netns', name);
  const scratch = tempRoot('cni-demo-netns');
  cleanup.add('remove the plan folder', () => rmSync(scratch, { recursive: true, force: true }));
  cleanup.add(`delete netns ${name}`, async () => {
    await exec('ip', ['netns', 'del', name], { allowFail: true });
  });
  await exec('ip', ['netns', 'add', name]);
  const netns = `net:[${statSync(pin).ino}]`;
  // a plan that died halfway leaves the namespace's record behind (its instances are gone with the namespace)
  cleanup.add('remove the namespace host record', () => rmSync(hostRecordFile({ netns }), { force: true }));
  const runner = path.join(PACKAGES_DIR, 'testkit', 'dist', 'scripts', 'netns-runner.mjs');
  let n = 0;
  return {
    name,
    netns,
    run(plan) {
      const file = path.join(scratch, `plan-${n++}.json`);
      writeFileSync(file, JSON.stringify(plan));
      return new Promise((resolve, reject) => {
        const argv = ['--mount', '--propagation', 'slave', 'nsenter', `--net=${pin}`, process.execPath, runner, file];
        const child = spawn('unshare', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => {
          if (code !== 0) reject(new Error(`netns runner exited ${code}: ${stderr.slice(-2000)}`));
          else resolve(JSON.parse(stdout) as NetnsObservation[]);
        });
      });
    },
  };
}
