// Runs a test's plan inside the network namespace and the private mount namespace it was started in
// (`unshare --mount --propagation slave nsenter --net=<pin> node netns-runner.mjs <plan.json>`): every command of
// the plan shares that one mount namespace, since the netns pins and overlays an up mounts die with it.
// First, as `ip netns exec` does, /sys is mounted afresh so that sysfs shows this namespace's links (the demo
// reads a bridge's ports and mark there); unlike it, the host's cgroup tree is kept under it, which runc needs.
// After each step it notes the forwarding sysctls, the host record, which watched paths exist and, when the plan
// asks, a host snapshot of the namespace (testkit's hostSnapshot), and prints
// the whole list as one JSON document on stdout.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createExec, FORWARDING_SYSCTLS, mountPoints, readHostRecord, readSysctlAt, realMountPath } from '@cni-demo/core';
import { hostSnapshot } from '../src/snapshot.js';
import type { NetnsObservation, NetnsPlan } from '../src/private-netns.js';

function must(argv: string[]): void {
  const [cmd = '', ...args] = argv;
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
}
const cgroups = mkdtempSync(path.join(os.tmpdir(), 'netns-runner-cgroup-'));
must(['mount', '--rbind', '/sys/fs/cgroup', cgroups]);
must(['mount', '-t', 'sysfs', 'sysfs', '/sys']);
must(['mount', '--rbind', cgroups, '/sys/fs/cgroup']);
must(['umount', '-l', cgroups]);
rmSync(cgroups, { recursive: true, force: true });

const plan = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as NetnsPlan;
const observe = async (label: string, extra: Partial<NetnsObservation> = {}): Promise<NetnsObservation> => ({
  label,
  ...extra,
  sysctls: Object.fromEntries(FORWARDING_SYSCTLS.map((k) => [k, readSysctlAt(k) ?? ''])),
  record: readHostRecord() ?? null,
  exists: Object.fromEntries(plan.watch.map((p) => [p, existsSync(p)])),
  ...(plan.snapshot ? { snapshot: await hostSnapshot(createExec(), plan.snapshot) } : {}),
});
// as runScript: no colour, and FORCE_COLOR (the test runner's) would override NO_COLOR
const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
delete env.FORCE_COLOR;
const out: NetnsObservation[] = [await observe('start')];
for (const step of plan.steps) {
  if (step.set) for (const [k, v] of Object.entries(step.set)) writeFileSync(`/proc/sys/${k.replaceAll('.', '/')}`, v);
  if (step.rm) {
    // a folder lost for real (wiped by hand, a reboot) takes its mounts along: the container's rootfs overlay
    const under = realMountPath(step.rm);
    for (const m of mountPoints()
      .filter((p) => p === under || p.startsWith(`${under}/`))
      .sort((a, b) => b.length - a.length))
      must(['umount', '-l', m]);
    rmSync(step.rm, { recursive: true, force: true });
  }
  if (step.run) {
    const [cmd = '', ...args] = step.run;
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...env, ...step.env }, input: step.input, timeout: 180_000 });
    out.push(await observe(step.label, { code: r.status, stderr: r.status === 0 ? '' : `${r.stderr}`.slice(-4000) }));
  } else out.push(await observe(step.label));
}
process.stdout.write(`${JSON.stringify(out)}\n`);
