import { readdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { confFromFile } from '@cni-demo/cni';
import {
  confUnchanged,
  type Ctx,
  faultPoint,
  type HostSetupState,
  type InstanceRecord,
  instanceRecord,
  isLeaseBookkeeping,
  isMarkedLink,
  leaseDir,
  leaveHostRecord,
  nodeMode,
  removeSharedChainsWith,
  loadNetconf,
  networkLeaseDir,
  requireRoot,
} from '@cni-demo/core';
import { deleteBridge } from './bridge.js';
import { deleteMasterVeth } from './network.js';
import { removeForwardRules } from './forward.js';
import { downWithoutState } from './recover.js';

/** What down undoes: the state when there is one, the host record where the state was lost, both merged. */
function undoPlan(s: HostSetupState | undefined, rec: InstanceRecord | undefined) {
  return {
    bridge: s?.bridge ?? rec?.bridge,
    createdBridge: s?.createdBridge ?? rec?.createdBridge ?? false,
    createdDirs: [...new Set([...(s?.createdDirs ?? []), ...(rec?.createdDirs ?? [])])],
  };
}

/**
 * The slow half of down, the bridge this instance made (only when no port is left on it): the step's
 * delete-bridge stage, which the graph starts as soon as every DEL is done, alongside runc-bundle down; down
 * then finds it gone. An error is left for down, which tries again and reports.
 */
export async function deleteBridgeEarly(ctx: Ctx): Promise<void> {
  requireRoot('host-setup down');
  const s = ctx.state.read<HostSetupState>('host-setup');
  await Promise.all(ownBridges(ctx, s, undoPlan(s, instanceRecord(ctx.names.runDir))).map((b) => deleteBridge(ctx, b)));
}

/**
 * The bridges this instance made: host-setup's own, and those the network's plugin made where none was before
 * (recorded as absent at up, marked by cni-attach after ADD). A bridge that was there before carries no mark.
 */
export function ownBridges(ctx: Ctx, s: HostSetupState | undefined, plan: ReturnType<typeof undoPlan>): string[] {
  const own = plan.createdBridge && plan.bridge ? [plan.bridge] : [];
  return [...own, ...(s?.pluginBridges ?? []).filter((b) => !own.includes(b) && isMarkedLink(b, ctx.config.id))];
}

/** host-local's lease folder of the instance's network (its state's record, else the --netconf file, else the config's). */
function leaseFolder(ctx: Ctx, s: HostSetupState | undefined): string | undefined {
  if (s?.network) return networkLeaseDir(s.network);
  if (ctx.config.netconf !== '') {
    try {
      return networkLeaseDir(loadNetconf(ctx.config.netconf, confFromFile).view);
    } catch {
      return undefined;
    }
  }
  return leaseDir(ctx.config.ipamDataDir, ctx.config.network);
}

/** The --fix-forward rules this instance may have made go: those for its bridge (with several nodes, the underlay's). */
function removeOwnForwardRules(ctx: Ctx, s: HostSetupState | undefined, rec: InstanceRecord | undefined): Promise<unknown> {
  // with several nodes the FORWARD fix went on the underlay bridge, the only bridge on the host
  const bridges = [
    s?.bridge ?? rec?.bridge ?? ctx.config.bridge,
    ...(s?.nodes || nodeMode(ctx.config) === 'netns' ? [ctx.config.underlayBridge] : []),
  ];
  return Promise.all([...new Set(bridges)].map((b) => removeForwardRules(ctx.exec, ctx.config.id, b)));
}

/** What the forward-rules stage started, for the down of the same run to wait for instead of reading again. */
const earlyForwardRules = new WeakMap<Ctx, Promise<unknown>>();

/**
 * The forward-rules stage of down: the --fix-forward rules go while DEL runs (nothing needs them gone first, nor
 * kept), so their two iptables reads are off the path to the audit. down waits for it, and does it again itself
 * if it failed.
 */
export function removeForwardRulesEarly(ctx: Ctx): Promise<unknown> {
  requireRoot('host-setup down');
  const s = ctx.state.read<HostSetupState>('host-setup');
  const p = removeOwnForwardRules(ctx, s, instanceRecord(ctx.names.runDir, { warn: (m) => ctx.log.warn(m) }));
  earlyForwardRules.set(ctx, p);
  return p;
}

/**
 * Undoes only what host-setup's state (or, with the state lost, the host record) says it made; succeeds when
 * there is nothing left to undo.
 */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('host-setup down');
  const warn = (m: string) => ctx.log.warn(m);
  const s = ctx.state.read<HostSetupState>('host-setup');
  const rec = instanceRecord(ctx.names.runDir, { warn });
  const early = earlyForwardRules.get(ctx);
  earlyForwardRules.delete(ctx);
  const rules = early ? early.catch(() => removeOwnForwardRules(ctx, s, rec)) : removeOwnForwardRules(ctx, s, rec);
  // the nodes' own folders (network configs, lease stores) live in the run folder: whatever is left there goes
  // (the nodes step has removed the nodes by now; a lease left means its DEL could not run, and its node is gone)
  rmSync(nodesDir(ctx), { recursive: true, force: true });
  if (!s && !rec) {
    await rules;
    await downWithoutState(ctx);
    return;
  }
  const plan = undoPlan(s, rec);
  if (s?.wroteConf) rmSync(s.confFile, { force: true });
  // from the record alone: only while the file holds exactly what host-setup wrote (a user may have taken it over)
  else if (rec?.conf && confUnchanged(rec.conf)) rmSync(rec.conf.file, { force: true });
  faultPoint('host-setup:down-after-conf');
  // the rules, the bridges and the master pair are independent: removed at once (the first error wins)
  const bridges = ownBridges(ctx, s, plan);
  const [, r] = await Promise.all([
    rules,
    Promise.all(bridges.map((b) => deleteBridge(ctx, b))),
    s?.masterVeth ? deleteMasterVeth(ctx, s.masterVeth) : undefined,
  ]);
  // the record alone knows no bridge a plugin made, nor a --master-veth pair: the file and the marks do
  if (!s && ctx.config.netconf !== '') await downWithoutState(ctx);
  const inUse = bridges.filter((_, i) => r[i] === 'in-use');
  if (inUse.length > 0) {
    ctx.log.warn(`bridge ${inUse.join(', ')} still has ports attached; left in place (run cni-attach down first)`);
    return;
  }
  // forwarding belongs to the network namespace: the record puts it back when this is the last instance in it
  // (several nodes here never joined it: their forwarding is inside the nodes)
  const left = s?.nodes
    ? { restored: [] as string[], entry: undefined, remaining: 0, sharedChainsBefore: undefined }
    : await leaveHostRecord(ctx.names.runDir, { warn });
  if (left.restored.length > 0) ctx.log.info(`forwarding put back as found: ${left.restored.join(', ')}`);
  else if (left.entry && left.remaining > 0)
    ctx.log.info(`forwarding left on: ${left.remaining} other instance(s) on this host still use it`);
  // the chains from before the first instance in this netns (the record's), not this instance's own view: an
  // instance that joined after another had made them would otherwise leave them for good
  const chainsBefore = s ? s.sharedChainsBefore && (left.sharedChainsBefore ?? s.sharedChainsBefore) : left.sharedChainsBefore;
  if (chainsBefore) {
    const kept: string[] = [];
    const removed = await removeSharedChainsWith(ctx.exec, chainsBefore, kept);
    if (removed.length > 0) ctx.log.info(`removed the portmap/firewall shared chains: ${removed.join(', ')}`);
    if (kept.length > 0) ctx.log.info(`kept ${kept.join(', ')}: CNI-ADMIN holds an administrator's rules (never flushed)`);
  }
  removeCreatedDirs(plan.createdDirs, leaseFolder(ctx, s) ?? '');
  ctx.state.remove('host-setup');
  ctx.state.removeDirIfEmpty();
}

/**
 * Removes the folders the demo added, deepest first, each only when empty. host-local's own bookkeeping
 * does not count as content once no lease is left.
 */
export function removeCreatedDirs(dirs: string[], ipamNetDir: string): void {
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      if (d === ipamNetDir) {
        const files = readdirSync(d);
        if (files.every(isLeaseBookkeeping)) {
          for (const f of files) rmSync(path.join(d, f), { force: true });
        }
      }
      rmdirSync(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EBUSY') throw e;
    }
  }
}

/** The folder holding every node's own folder (netns mode). */
export const nodesDir = (ctx: Ctx) => path.join(ctx.names.runDir, 'nodes');
