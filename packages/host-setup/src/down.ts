import { readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, faultPoint, type HostSetupState, isLeaseBookkeeping, leaseDir, readSysctl, requireRoot } from '@cni-demo/core';
import { deleteBridge } from './bridge.js';
import { removeForwardRules } from './forward.js';
import { downWithoutState } from './recover.js';
import { removeSharedChains } from './ports.js';

/**
 * The slow half of down, the bridge this instance made (only when no port is left on it): the step's
 * delete-bridge stage, which the graph starts as soon as every DEL is done, alongside runc-bundle down; down
 * then finds it gone. An error is left for down, which tries again and reports.
 */
export async function deleteBridgeEarly(ctx: Ctx): Promise<void> {
  requireRoot('host-setup down');
  const s = ctx.state.read<HostSetupState>('host-setup');
  if (s?.createdBridge) await deleteBridge(ctx, s.bridge);
}

/** Undoes only what host-setup's state says it made; succeeds when there is nothing left to undo. */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('host-setup down');
  const s = ctx.state.read<HostSetupState>('host-setup');
  const rules = removeForwardRules(ctx.exec, ctx.config.id, s?.bridge ?? ctx.config.bridge);
  if (!s) {
    await rules;
    await downWithoutState(ctx);
    return;
  }
  if (s.wroteConf) rmSync(s.confFile, { force: true });
  faultPoint('host-setup:down-after-conf');
  // the rules and the bridge are independent: removed at once (the first error wins)
  const [, r] = await Promise.all([rules, s.createdBridge ? deleteBridge(ctx, s.bridge) : undefined]);
  if (r === 'in-use') {
    ctx.log.warn(`bridge ${s.bridge} still has ports attached; left in place (run cni-attach down first)`);
    return;
  }
  // forwarding is host-wide: put it back only when no other instance of the demo still runs
  if (!otherInstances(ctx)) {
    for (const [key, value] of Object.entries(s.sysctls)) {
      if (value !== '' && readSysctl(key) !== value) writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
    }
  }
  if (s.sharedChainsBefore) {
    const removed = await removeSharedChains(ctx, s.sharedChainsBefore);
    if (removed.length > 0) ctx.log.info(`removed the portmap/firewall shared chains: ${removed.join(', ')}`);
  }
  removeCreatedDirs(s.createdDirs ?? [], leaseDir(ctx.config.ipamDataDir, ctx.config.network));
  ctx.state.remove('host-setup');
  ctx.state.removeDirIfEmpty();
}

function otherInstances(ctx: Ctx): boolean {
  try {
    return readdirSync(ctx.config.stateDir, { withFileTypes: true }).some(
      (d) =>
        d.isDirectory() &&
        path.join(ctx.config.stateDir, d.name) !== ctx.names.runDir &&
        readdirSync(path.join(ctx.config.stateDir, d.name)).includes('host-setup.json'),
    );
  } catch {
    return false;
  }
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
