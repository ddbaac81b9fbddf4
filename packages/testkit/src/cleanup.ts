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
  joinHostRecord,
  leaveHostRecord,
  linkExists,
  mountPoints,
  nodePinsIn,
  removeSharedChainsWith,
  parseAttachmentComment,
  readTable,
  ownerOf,
  realMountPath,
  type Rule,
  ruleArg,
  runcCommand,
  names,
  StateStore,
  splitRule,
} from '@cni-demo/core';
import { pluginNames } from './snapshot-filter.js';

/** Cleanup steps that run in reverse order even when the test failed; each failure is kept, not thrown early. */
export class Cleanup {
  private readonly steps: { label: string; fn: () => Promise<void> | void }[] = [];
  add(label: string, fn: () => Promise<void> | void): void {
    this.steps.push({ label, fn });
  }
  private running: Promise<void> | undefined;
  /** Runs the steps added so far, last first; a call while a run is under way waits for that run. */
  run(): Promise<void> {
    this.running ??= this.runSteps().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }
  private async runSteps(): Promise<void> {
    // taken out first: a step added meanwhile is left for the next run, and no step runs twice
    const steps = this.steps.splice(0).reverse();
    const errors: string[] = [];
    for (const s of steps) {
      try {
        await s.fn();
      } catch (e) {
        errors.push(`${s.label}: ${(e as Error).message}`);
      }
    }
    if (errors.length) throw new Error(`cleanup failed:\n${errors.join('\n')}`);
  }
}

/**
 * The cleanups of the bodies running now. Node ends on SIGINT, SIGTERM or SIGHUP without running a `finally`,
 * so a test stopped from outside (Ctrl-C, test-all's time limit, a script interrupted) would leave everything
 * it made on the host. The first such signal runs every pending cleanup, then the process ends as the signal
 * would have ended it (128 + its number); a second one ends it at once.
 */
const pending = new Set<Cleanup>();
let hooked = false;
let stopping = false;
const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  for (const [sig, n] of Object.entries(SIGNALS)) {
    process.on(sig, () => {
      if (stopping) process.exit(128 + n);
      stopping = true;
      process.stderr.write(`testkit: ${sig}: cleaning up ${pending.size} running test(s) before exiting\n`);
      void (async () => {
        for (const c of [...pending].reverse()) {
          try {
            await c.run();
          } catch (e) {
            process.stderr.write(`testkit: ${(e as Error).message}\n`);
          }
        }
        process.exit(128 + n);
      })();
    });
  }
}

/** Runs the test body, then its cleanup; a failed body is the error reported, a failed cleanup is added to it. */
export async function withCleanup<T>(fn: (c: Cleanup) => Promise<T>): Promise<T> {
  const c = new Cleanup();
  hookSignals();
  pending.add(c);
  try {
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
  } finally {
    pending.delete(c);
  }
}

/**
 * For a test that runs the bridge plugin itself (isGateway, ipMasq: a runtime's ADD, cni-tool) in the network
 * namespace the suite runs in, outside the demo's host-setup: the plugin turns the forwarding sysctls on, and they
 * are shared by everything in the namespace, so the test holds them as the product's instances do, through the
 * host record. It joins now, before any ADD (the first holder notes the values as found), and leaves in
 * `cleanup`, also when the test fails; the last holder out puts them back. Call it before anything is made, so
 * that the leave runs after the test's DELs and teardown. The entry is the instance's own (`<stateDir>/<id>`),
 * the one forceTeardown leaves too.
 */
export async function holdForwarding(cleanup: Cleanup, config: Config): Promise<void> {
  const runDir = names(config).runDir;
  cleanup.add('leave the host record (forwarding)', async () => {
    await leaveHostRecord(runDir);
  });
  await joinHostRecord(runDir, { id: config.id, bridge: config.bridge, network: config.network, createdBridge: false, createdDirs: [] });
}

/**
 * Removes everything a test instance may have made, by derived names and regardless of state files:
 * runc containers, netns pins, mounts under its state folder (overlays), the bridge, veths left on it, the
 * plugins' per-container chains (masquerade, port mappings) and the jumps to them, the firewall's rules for its
 * subnets, its entry in the host record, and the shared chains when the record says the demo made them.
 * Every part runs even when one before it failed (the failures are thrown together at the end): a cleanup that
 * stopped at its first error left the rest on the host. Nothing here relies on the product's own teardown code,
 * which a test may be showing to be broken (scripts/mutation-check.mjs breaks it on purpose).
 */
export async function forceTeardown(
  config: Config,
  exec: Exec = createExec(),
  containerIds?: string[],
  links: string[] = [],
): Promise<void> {
  const ids = containerIds ?? configuredIds(config);
  const errors: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
    }
  };
  // what the network's plugins put on the host for our containers (a bandwidth ifb …), as their results say:
  // read before the containers go, removed after
  const resultLinks = hostLinksOfResults(config);
  // rootless: runc as the user who owns its state folder (never root on the user's state)
  const user = config.rootless ? ownerOf(config.runcRoot) : undefined;
  for (const id of ids) {
    await step(`container ${id}`, async () => {
      await exec(...runcCommand(config, user, 'delete', '--force', id), { allowFail: true });
      const pin = path.join(config.netnsDir, id);
      while (isMountPoint(pin)) await exec('umount', [pin], { allowFail: true });
      rmSync(pin, { force: true });
    });
  }
  // the containers' overlays (one container's in its run folder, many under containers/), deepest first
  await step('mounts', async () => {
    const stateDir = realMountPath(config.stateDir);
    for (const m of mountPoints()
      .filter((p) => p.startsWith(`${stateDir}/`))
      .sort((a, b) => b.length - a.length)) {
      await exec('umount', [m], { allowFail: true });
    }
  });
  await step('links', async () => {
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
  });
  await step('per-container chains', () => removeMasqChains(exec, ids, config.network));
  await step('firewall rules', () => removeFirewallRules(exec, config));
  // last: the instance's share of the forwarding sysctls (restored when no other instance holds them), and the
  // shared chains when no demo instance had them before and none uses them now (what host-setup down does)
  await step('host record', async () => {
    const left = await leaveHostRecord(path.join(config.stateDir, config.id));
    if (left.entry && left.sharedChainsBefore) await removeSharedChainsWith(exec, left.sharedChainsBefore);
  });
  if (errors.length > 0) throw new Error(`force teardown of ${config.id}: ${errors.join('; ')}`);
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

/** The portmap and firewall plugins' shared chains in the nat table (never per container). */
const SHARED_NAT = new Set(['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']);

/**
 * The plugins' per-container chains in the nat table of both tools, and every rule jumping to them: the bridge
 * plugin's masquerade chain (CNI-<hash>, jumped to from POSTROUTING) and portmap's DNAT chain (CNI-DN-<hash>,
 * jumped to from CNI-HOSTPORT-DNAT). They are found by the names the plugins derive from the network and the
 * container id (an emptied chain that no rule names any more still goes) and by the targets of the rules
 * commented `name: "<net>" id: "<cid>"` or `dnat name: …`. Without a network name, every network a comment
 * names with one of the ids. Throws when any of them is still there afterwards.
 */
export async function removeMasqChains(exec: Exec, ids: string[], network?: string): Promise<void> {
  const left: string[] = [];
  for (const tool of IPTABLES_TOOLS) {
    const rs = await readTable(exec, tool, 'nat');
    if (!rs) continue;
    const attachment = (r: Rule) => {
      const a = parseAttachmentComment(ruleArg(r, '--comment'));
      return a && ids.includes(a.id) && (network === undefined || a.network === network) ? a : undefined;
    };
    const ours = new Set<string>();
    const networks = new Set(network === undefined ? [] : [network]);
    for (const r of rs.rules) {
      const a = attachment(r);
      if (!a) continue;
      networks.add(a.network);
      const target = ruleArg(r, '-j') ?? '';
      if (rs.chains.has(target) && !SHARED_NAT.has(target)) ours.add(target);
    }
    for (const net of networks) {
      for (const id of ids) {
        const n = pluginNames(net, id);
        for (const chain of [n.masqChain, n.dnatChain]) if (rs.chains.has(chain)) ours.add(chain);
      }
    }
    if (ours.size === 0) continue;
    for (const r of rs.rules) {
      if (ours.has(r.chain) || !ours.has(ruleArg(r, '-j') ?? '')) continue;
      await exec(tool, ['-w', '-t', 'nat', '-D', r.chain, ...r.args], { allowFail: true });
    }
    for (const chain of ours) await exec(tool, ['-w', '-t', 'nat', '-F', chain], { allowFail: true });
    for (const chain of ours) await exec(tool, ['-w', '-t', 'nat', '-X', chain], { allowFail: true });
    const after = await readTable(exec, tool, 'nat');
    for (const chain of ours) if (after?.chains.has(chain)) left.push(`${tool}:${chain}`);
  }
  if (left.length > 0) throw new Error(`could not remove the chains ${left.join(', ')}`);
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
