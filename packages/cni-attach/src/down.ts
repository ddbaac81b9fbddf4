import { existsSync } from 'node:fs';
import path from 'node:path';
import { listCachedAttachments, readCacheEntry } from '@cni-demo/cni';
import {
  attachmentsOf,
  bridgePorts,
  type CniAttachState,
  type Ctx,
  containerIds,
  createProgress,
  faultPoint,
  hasOwnerMark,
  linkInNetns,
  mapLimit,
  pinKind,
  readLeases,
  recordedContainerIds,
  requireRoot,
} from '@cni-demo/core';
import { capabilityArgsFor, runtimeConf, runtimeFor } from './attach.js';
import { removeLeakedMasq } from './masq.js';
import { downNodeAttachments } from './nodes.js';
import { loadListForDown, networkForDown, releaseLeases, removeConfCopy } from './recover.js';

/**
 * CNI DEL for every attachment with the cached result as prevResult (and the cached capability args, so
 * portmap removes its chains); then shows that each interface is gone. Works without state (ids are
 * derived) and without the config file (the list is read back from the cache entry or our copy).
 */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('cni-attach down');
  const s = ctx.state.read<CniAttachState>('cni-attach');
  // only what this instance made (core host/ownership.ts): the attachments its state names, the containers
  // it keeps a record of, and (below) cache entries carrying its mark; a configured id it has no record of
  // is someone else's, or nothing
  const all = ownedIds(ctx, s);
  // the nodes' containers first, each node's DEL inside it; the rest are the host's, as today
  const onNodes = new Set(await downNodeAttachments(ctx, s, all));
  const ids = new Set([...all].filter((id) => !onNodes.has(id)));
  if (ids.size === 0) {
    notOwned(ctx, all);
    ctx.state.remove('cni-attach');
    ctx.state.removeDirIfEmpty();
    return;
  }
  const list = loadListForDown(ctx, s, [...ids]);
  const view = networkForDown(ctx);
  let proof: Promise<void> = Promise.resolve();
  let masqMayLeak = !list;
  if (!list) {
    const leases = releaseLeases(ctx, view, ids);
    ctx.log.info(`cni-attach: no network config left to run DEL with${leases.length ? `; released leases ${leases.join(', ')}` : ''}`);
  } else {
    const cni = runtimeFor(ctx, s?.pluginDirs ?? ctx.config.pluginDirs.filter((d) => existsSync(d)));
    // attachments the cache knows for this instance that the state does not list (a crash after ADD, or
    // an up with a smaller --containers than the one before): those whose CNI_ARGS carry our mark
    for (const e of listCachedAttachments(cni.cacheDir)) {
      if (e.networkName === list.name && hasOwnerMark(ctx.config, e.cniArgs) && !onNodes.has(e.containerId)) ids.add(e.containerId);
    }
    // without state, DEL only where an ADD left a trace (a cache entry, a pin, a lease): a DEL for a container
    // never attached is not free, host-local makes its store folder and lock file for it
    const leased = new Set(view?.leaseStore ? readLeases(view.leaseStore, view.name).map((l) => l.containerId) : []);
    const traced = (id: string) =>
      existsSync(path.join(ctx.config.netnsDir, id)) ||
      leased.has(id) ||
      readCacheEntry(cni.cacheDir, list.name, id, ctx.config.ifname) !== undefined;
    const todo = s ? [...ids] : [...ids].filter(traced);
    const pinned: { id: string; netns: string }[] = [];
    const progress = createProgress('detach', todo.length, { quiet: ctx.config.json || Boolean(ctx.log.quiet) });
    await mapLimit(todo, ctx.config.concurrency, async (id) => {
      const pin = path.join(ctx.config.netnsDir, id);
      // DEL enters the netns only through a pin that is a network namespace (ours: the id is)
      const netns = pinKind(pin) === 'netns' ? pin : '';
      const cached = readCacheEntry(cni.cacheDir, list.name, id, ctx.config.ifname);
      // the plugin can leave its NAT chain only when it had neither the netns nor the cached result to go by
      if (!netns || !cached) masqMayLeak = true;
      const caps = (cached?.capabilityArgs as Record<string, unknown> | undefined) ?? capabilityArgsFor(ctx, id);
      const rt = runtimeConf(ctx, netns, id, caps && Object.keys(caps).length > 0 ? caps : undefined);
      await cni.delNetworkList(list, rt);
      faultPoint('cni-attach:down-after-del');
      if (netns) pinned.push({ id, netns });
      progress.tick();
    }).finally(() => progress.done());
    // proof that every interface is gone: a veth pair dies as one, so a bridge without ports (read from
    // sysfs, no process) means no eth0 is left; only when some port is still there (another instance's
    // containers on an adopted bridge, or a DEL that did not remove it) is each container looked into
    proof = (async () => {
      const ports = view?.bridge ? bridgePorts(view.bridge.name) : undefined;
      if (ports === undefined || ports.length > 0) {
        for (const { netns } of pinned) {
          if (await linkInNetns(ctx.exec, netns, ctx.config.ifname))
            throw new Error(`${ctx.config.ifname} is still present in ${netns} after CNI DEL`);
        }
      }
      ctx.log.info(`${ctx.config.ifname} is gone from ${todo.length} container${todo.length === 1 ? '' : 's'}`);
    })();
  }
  // the bridge plugin leaves its NAT chain when DEL ran without a netns (or without prevResult): ours to
  // remove, alongside the proof
  // (a chain left anyway is still found by verify's leak audit, and the next down removes it)
  const masq = masqMayLeak
    ? removeLeakedMasq(ctx, list?.name ?? s?.network ?? view?.name ?? ctx.config.network, [...ids])
    : Promise.resolve([]);
  const settled = await Promise.allSettled([proof, masq]);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  notOwned(ctx, ids);
  removeConfCopy(ctx);
  ctx.state.remove('cni-attach');
  ctx.state.removeDirIfEmpty();
}

/** The container ids this instance's records name: the attachments in its state, the containers runc-bundle made. */
export function ownedIds(ctx: Ctx, s: CniAttachState | undefined): Set<string> {
  return new Set<string>([...(s ? attachmentsOf(s).map((a) => a.containerId) : []), ...recordedContainerIds(ctx.config)]);
}

/** Says which configured ids down left alone because this instance has no record of them, when something is there. */
function notOwned(ctx: Ctx, ids: Set<string>): void {
  for (const id of containerIds(ctx.config)) {
    if (ids.has(id)) continue;
    const pin = path.join(ctx.config.netnsDir, id);
    if (pinKind(pin) !== 'absent') ctx.log.warn(`${id}: netns pin ${pin} left alone: this instance has no record of making it`);
  }
}
