import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  type Config,
  containerIds,
  type Exec,
  FORWARDING_SYSCTLS,
  getLink,
  instanceRecord,
  isMountPoint,
  leaseDir,
  parseCidr,
  prefixesOverlap,
  readLinks,
  readRoutes,
  runcState,
} from '@cni-demo/core';
import { type HostSnapshot, lineDiff } from './snapshot.js';
import { ownSnapshotDiff } from './snapshot-filter.js';

/**
 * What a finished demo looks like from the host, and what nothing-left looks like, checked against the config
 * alone (the addresses the user asked for, the names the config derives), never against the demo's own state
 * or its leak audit: the e2e tests and CI's run of the README's demo use these after the real thing.
 */

/** The step state files a complete up leaves in the run folder, one per step (the README's five steps). */
export const UP_STATE_FILES = ['host-setup.json', 'image-fetch.json', 'runc-bundle.json', 'cni-attach.json', 'verify.json'];

const inSubnet = (addr: string, subnet: string) => {
  const a = parseCidr(`${addr}/${addr.includes(':') ? 128 : 32}`);
  const s = parseCidr(subnet);
  return !!a && !!s && prefixesOverlap(a, s);
};
const prefixOf = (cidr: string) => Number(cidr.split('/')[1]);

/**
 * Problems with a demo that should be up (empty when it is): the bridge with both gateway addresses, each
 * container running with its netns pinned, eth0 inside holding an address in each subnet, default routes via
 * both gateways, the host's pings answered over both families, the five step state files.
 */
export async function demoUpProblems(exec: Exec, c: Config): Promise<string[]> {
  const problems: string[] = [];
  const br = await getLink(exec, c.bridge);
  if (br?.kind !== 'bridge') problems.push(`bridge ${c.bridge}: missing (${br ? `a ${br.kind ?? 'plain'} link` : 'no link'})`);
  else {
    if (!br.up) problems.push(`bridge ${c.bridge}: down`);
    for (const [gw, subnet] of [
      [c.gateway4, c.subnet4],
      [c.gateway6, c.subnet6],
    ] as const) {
      if (!br.addrs.some((a) => a.local === gw && a.prefixlen === prefixOf(subnet)))
        problems.push(
          `bridge ${c.bridge}: no ${gw}/${prefixOf(subnet)} (has ${br.addrs.map((a) => `${a.local}/${a.prefixlen}`).join(', ') || 'none'})`,
        );
    }
  }
  for (const id of containerIds(c)) {
    const pin = path.join(c.netnsDir, id);
    const runc = await runcState(exec, c.runcRoot, id);
    if (runc?.status !== 'running') problems.push(`container ${id}: runc says ${runc?.status ?? 'no such container'}`);
    if (!isMountPoint(pin)) {
      problems.push(`container ${id}: no netns pinned at ${pin}`);
      continue;
    }
    const eth = (await readLinks(exec, { pin, args: ['addr', 'show', 'dev', c.ifname], allowFail: true }))[0];
    const routes = await readRoutes(exec, { pin, filter: ['default'], allowFail: true });
    for (const [family, subnet, gw] of [
      [4, c.subnet4, c.gateway4],
      [6, c.subnet6, c.gateway6],
    ] as const) {
      const addr = eth?.addrs.find((a) => a.family === family && a.scope === 'global' && inSubnet(a.local, subnet));
      if (!addr) {
        problems.push(`container ${id}: ${c.ifname} has no IPv${family} address in ${subnet}`);
        continue;
      }
      if (!routes.some((r) => r.family === family && r.dst === 'default' && r.gateway === gw))
        problems.push(`container ${id}: no IPv${family} default route via ${gw}`);
      const ping = await exec('ping', [`-${family}`, '-c1', '-W2', addr.local], { allowFail: true });
      if (ping.exitCode !== 0) problems.push(`container ${id}: the host's IPv${family} ping to ${addr.local} got no answer`);
    }
  }
  const runDir = path.join(c.stateDir, c.id);
  for (const f of UP_STATE_FILES) if (!existsSync(path.join(runDir, f))) problems.push(`state file ${path.join(runDir, f)} missing`);
  if (!existsSync(path.join(c.confDir, `10-${c.network}.conflist`)))
    problems.push(`network config 10-${c.network}.conflist missing in ${c.confDir}`);
  return problems;
}

/**
 * Problems with a demo that should be gone (empty when nothing is left): no bridge, no container, no pin, no
 * run folder, no network config, no lease folder, no host record entry; with a snapshot from before the demo,
 * no difference from it in what the instance could have touched, and (`forwarding`, where no other instance
 * can be running) the forwarding sysctls as they were.
 */
export async function demoGoneProblems(
  exec: Exec,
  c: Config,
  o: { before?: HostSnapshot; now?: HostSnapshot; forwarding?: boolean } = {},
): Promise<string[]> {
  const problems: string[] = [];
  const br = await getLink(exec, c.bridge);
  if (br) problems.push(`link ${c.bridge} still there`);
  for (const id of containerIds(c)) {
    const pin = path.join(c.netnsDir, id);
    if (existsSync(pin)) problems.push(`netns pin ${pin} still there`);
    const runc = await runcState(exec, c.runcRoot, id);
    if (runc) problems.push(`runc container ${id} still there (${runc.status})`);
  }
  const runDir = path.join(c.stateDir, c.id);
  if (existsSync(runDir)) problems.push(`run folder ${runDir} still there`);
  const conf = path.join(c.confDir, `10-${c.network}.conflist`);
  if (existsSync(conf)) problems.push(`network config ${conf} still there`);
  const leases = leaseDir(c.ipamDataDir, c.network);
  if (existsSync(leases)) problems.push(`lease folder ${leases} still there`);
  if (instanceRecord(runDir)) problems.push(`host record entry for ${runDir} still there`);
  if (o.before && o.now) {
    const diff = ownSnapshotDiff(o.before, o.now, c);
    if (diff) problems.push(`host differs from before the demo:\n${diff}`);
    if (o.forwarding) {
      const keys = new Set<string>(FORWARDING_SYSCTLS);
      const { removed, added } = lineDiff(o.before.sysctls, o.now.sysctls);
      for (const l of [...removed.map((x) => `- ${x}`), ...added.map((x) => `+ ${x}`)])
        if (keys.has(l.slice(2).split('=')[0] ?? '')) problems.push(`forwarding sysctl not restored: ${l}`);
    }
  }
  return problems;
}
