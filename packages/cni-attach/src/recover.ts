import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { confFromBytes, confFromFile, type NetworkConfigList, readCacheEntry } from '@cni-demo/cni';
import {
  type CniAttachState,
  containerIds,
  type Ctx,
  type HostSetupState,
  instanceNetwork,
  type NetworkView,
  networkLeaseDir,
  readLeases,
  writeFileAtomic,
} from '@cni-demo/core';

/** cni-attach's own copy of the conflist bytes, written before ADD, so DEL can run after the file is gone. */
export function confCopyFile(ctx: Ctx): string {
  return path.join(ctx.names.runDir, 'cni-attach.conflist');
}

export function keepConfCopy(ctx: Ctx, list: NetworkConfigList): void {
  ctx.state.ensureDir();
  writeFileAtomic(confCopyFile(ctx), list.bytes, 0o600);
}

export function removeConfCopy(ctx: Ctx): void {
  rmSync(confCopyFile(ctx), { force: true });
}

/**
 * The network list DEL needs, from wherever it still is: the conf file (host-setup down may have removed
 * it, or crashed), the CNI cache entry (libcni keeps the whole conflist there, base64), or our copy.
 * Undefined when none is left: then no ADD can have happened that DEL could still undo through plugins.
 */
export function loadListForDown(
  ctx: Ctx,
  s: CniAttachState | undefined,
  ids: string[] = containerIds(ctx.config),
): NetworkConfigList | undefined {
  // the copy is the config ADD ran with: a user's file edited since is not what DEL must get
  const copy = readCopy(ctx);
  for (const file of [s?.confFile, ctx.config.netconf || ctx.names.confFile]) {
    if (!file || !existsSync(file)) continue;
    try {
      const list = confFromFile(file);
      if (copy && Buffer.compare(Buffer.from(copy.bytes), Buffer.from(list.bytes)) !== 0) {
        ctx.log.warn(`${file} changed since ADD: DEL runs with the config ADD ran with (kept in ${confCopyFile(ctx)})`);
        return copy;
      }
      return list;
    } catch {
      /* unreadable or replaced by something else: try the next source */
    }
  }
  for (const id of ids) {
    const entry = readCacheEntry(
      s?.cniCacheDir ?? ctx.config.cniCacheDir,
      s?.network ?? ctx.config.network,
      id,
      s?.ifName ?? ctx.config.ifname,
    );
    if (!entry?.config) continue;
    try {
      return confFromBytes(Buffer.from(entry.config, 'base64'), 'CNI cache entry');
    } catch {
      /* fall through */
    }
  }
  return copy;
}

function readCopy(ctx: Ctx): NetworkConfigList | undefined {
  const copy = confCopyFile(ctx);
  if (!existsSync(copy)) return undefined;
  try {
    return confFromBytes(readFileSync(copy), copy);
  } catch {
    return undefined;
  }
}

/** The instance's network for down: host-setup's record, else the --netconf file, else the generated one; undefined if unknowable. */
export function networkForDown(ctx: Ctx): NetworkView | undefined {
  try {
    return instanceNetwork(ctx.config, ctx.names.confFile, confFromFile, ctx.state.read<HostSetupState>('host-setup'));
  } catch {
    return undefined;
  }
}

/** Last resort when no config is left to run DEL with: the host-local leases naming our containers (`ids`: ours) are removed. */
export function releaseLeases(ctx: Ctx, view: NetworkView | undefined, ids: ReadonlySet<string>): string[] {
  const dir = view ? networkLeaseDir(view) : undefined;
  if (!view?.leaseStore || !dir) return [];
  const mine = readLeases(view.leaseStore, view.name).filter((l) => ids.has(l.containerId));
  for (const l of mine) rmSync(path.join(dir, l.address), { force: true });
  return mine.map((l) => l.address);
}
