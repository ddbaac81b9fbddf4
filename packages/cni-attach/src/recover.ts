import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { confFromBytes, type NetworkConfigList, readCacheEntry } from '@cni-demo/cni';
import { type CniAttachState, containerIds, type Ctx, leaseDir, readLeases, writeFileAtomic } from '@cni-demo/core';

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
  for (const file of [s?.confFile, ctx.names.confFile]) {
    if (!file || !existsSync(file)) continue;
    try {
      return confFromBytes(readFileSync(file), file);
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
  const copy = confCopyFile(ctx);
  if (existsSync(copy)) {
    try {
      return confFromBytes(readFileSync(copy), copy);
    } catch {
      /* fall through */
    }
  }
  return undefined;
}

/** Last resort when no config is left to run DEL with: the host-local leases naming our containers are removed. */
export function releaseLeases(ctx: Ctx): string[] {
  const ids = new Set(containerIds(ctx.config));
  const mine = readLeases(ctx.config.ipamDataDir, ctx.config.network).filter((l) => ids.has(l.containerId));
  for (const l of mine) rmSync(path.join(leaseDir(ctx.config.ipamDataDir, ctx.config.network), l.address), { force: true });
  return mine.map((l) => l.address);
}
