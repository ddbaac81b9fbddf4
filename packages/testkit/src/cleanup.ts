import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  attachmentsOf,
  bridgePorts,
  type CniAttachState,
  type Config,
  containerIds as configuredIds,
  createExec,
  type Exec,
  IPTABLES_TOOLS,
  isMountPoint,
  leaveHostRecord,
  linkExists,
  masqNetworksOf,
  mountPoints,
  nodePinsIn,
  readTable,
  realMountPath,
  removeMasqChains as removeChains,
  names,
  StateStore,
  splitRule,
} from '@cni-demo/core';

/** Cleanup steps that run in reverse order even when the test failed; each failure is kept, not thrown early. */
export class Cleanup {
  private readonly steps: { label: string; fn: () => Promise<void> | void }[] = [];
  add(label: string, fn: () => Promise<void> | void): void {
    this.steps.push({ label, fn });
  }
  async run(): Promise<void> {
    const errors: string[] = [];
    for (const s of this.steps.reverse()) {
      try {
        await s.fn();
      } catch (e) {
        errors.push(`${s.label}: ${(e as Error).message}`);
      }
    }
    this.steps.length = 0;
    if (errors.length) throw new Error(`cleanup failed:\n${errors.join('\n')}`);
  }
}

/** Runs the test body, then its cleanup; a failed body is the error reported, a failed cleanup is added to it. */
export async function withCleanup<T>(fn: (c: Cleanup) => Promise<T>): Promise<T> {
  const c = new Cleanup();
  let result: T;
  try {
    result = await fn(c);
  } catch (e) {
    try {
      await c.run();
    } catch (cleanupError) {
      if (e instanceof Error) e.message = `${e.message}\n(and then ${(cleanupError as Error).message})`;
    }
    throw e;
  }
  await c.run();
  return result;
}

/**
 * Removes everything a test instance may have made, by derived names and regardless of state files:
 * runc containers, netns pins, mounts under its state folder (overlays), the bridge, veths left on it,
 * masquerade chains naming the container, its entry in the host record.
 */
export async function forceTeardown(
  config: Config,
  exec: Exec = createExec(),
  containerIds?: string[],
  links: string[] = [],
): Promise<void> {
  const ids = containerIds ?? configuredIds(config);
  // what the network's plugins put on the host for our containers (a bandwidth ifb …), as their results say:
  // read before the containers go, removed after
  const resultLinks = hostLinksOfResults(config);
  for (const id of ids) {
    await exec('runc', ['--root', config.runcRoot, 'delete', '--force', id], { allowFail: true });
    const pin = path.join(config.netnsDir, id);
    while (isMountPoint(pin)) await exec('umount', [pin], { allowFail: true });
    rmSync(pin, { force: true });
  }
  // the containers' overlays (one container's in its run folder, many under containers/), deepest first
  const stateDir = realMountPath(config.stateDir);
  for (const m of mountPoints()
    .filter((p) => p.startsWith(`${stateDir}/`))
    .sort((a, b) => b.length - a.length)) {
    await exec('umount', [m], { allowFail: true });
  }
  for (const p of bridgePorts(config.bridge) ?? []) await exec('ip', ['link', 'del', p], { allowFail: true });
  await exec('ip', ['link', 'del', config.bridge], { allowFail: true });
  // links a test names (a --master-veth pair, a bridge its own network file names) and those of the results
  for (const l of [...links, ...resultLinks]) if (linkExists(l)) await exec('ip', ['link', 'del', l], { allowFail: true });
  // several nodes: the underlay veths (both ends at once), the node namespaces, the underlay bridge
  if (config.underlayBridge) {
    for (const p of bridgePorts(config.underlayBridge) ?? []) await exec('ip', ['link', 'del', p], { allowFail: true });
    await exec('ip', ['link', 'del', config.underlayBridge], { allowFail: true });
  }
  for (const pin of nodePinsIn(config)) {
    while (isMountPoint(pin)) await exec('umount', [pin], { allowFail: true });
    rmSync(pin, { force: true });
  }
  await removeMasqChains(exec, ids, config.network);
  await removeFirewallRules(exec, config);
  // last: the instance's share of the forwarding sysctls (restored when no other instance holds them)
  await leaveHostRecord(path.join(config.stateDir, config.id));
}

/**
 * The firewall plugin's per-container rules in CNI-FORWARD name the container's addresses: a test that
 * failed before its DEL leaves them. The test's subnets are its own, so every rule naming one is the test's.
 */
export async function removeFirewallRules(exec: Exec, config: Config): Promise<void> {
  const v4 = `${config.subnet4.split('/')[0]?.split('.').slice(0, 3).join('.')}.`;
  const v6 = `${config.subnet6.split('::')[0]}:`;
  for (const tool of IPTABLES_TOOLS) {
    const needle = tool === 'iptables' ? v4 : v6;
    for (const r of (await readTable(exec, tool, 'filter'))?.rules ?? []) {
      if (r.chain === 'CNI-FORWARD' && r.line.includes(needle))
        await exec(tool, ['-t', 'filter', '-D', r.chain, ...r.args], { allowFail: true });
    }
  }
}

/**
 * The bridge plugin's per-container NAT chains, found by their comment `name: "<net>" id: "<cid>"`; the
 * product's own remover (core masq.ts, used by cni-attach down) does the work. Without a network name,
 * every network that names one of the ids is cleaned.
 */
export async function removeMasqChains(exec: Exec, ids: string[], network?: string): Promise<void> {
  for (const net of network ? [network] : await masqNetworksOf(exec, ids)) await removeChains(exec, net, ids);
}

/** The host-side interfaces (no sandbox) named by the results cni-attach recorded for the instance. */
function hostLinksOfResults(config: Config): string[] {
  let s: CniAttachState | undefined;
  try {
    s = new StateStore(names(config).runDir).read<CniAttachState>('cni-attach');
  } catch {
    return [];
  }
  if (!s) return [];
  const out = new Set<string>();
  for (const a of attachmentsOf(s)) {
    for (const i of (a.result as { interfaces?: { name?: string; sandbox?: string }[] }).interfaces ?? []) {
      if (i.name && !i.sandbox) out.add(i.name);
    }
  }
  return [...out];
}

export { splitRule };

export function exists(p: string): boolean {
  return existsSync(p);
}
