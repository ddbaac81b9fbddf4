import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { confFromBytes, deleteCacheEntry, listCachedAttachments, type NetworkConfigList, readCacheEntry } from '@cni-demo/cni';
import {
  type CniAttachState,
  type Ctx,
  createProgress,
  faultPoint,
  hasOwnerMark,
  isMountPoint,
  leaseDir,
  linkInNetns,
  mapLimit,
  nodeNames,
  nodeOfContainer,
  pinKind,
  readLeases,
  readLinks,
} from '@cni-demo/core';
import { runtimeConf, runtimeFor } from './attach.js';

/**
 * DEL for the containers of nodes (netns mode), node by node: the plugins run inside the node, as for ADD, on the
 * node's network config (its file, or the copy every cache entry keeps). A node whose namespace is gone took its
 * bridge, the containers' veths and its rules with it: only the cache entries and the leases in the node's store
 * are left, and they are removed without running any plugin. Returns the ids it handled.
 */
export async function downNodeAttachments(ctx: Ctx, s: CniAttachState | undefined, ids: Set<string>): Promise<string[]> {
  const c = ctx.config;
  const network = s?.network ?? c.network;
  const cacheDir = s?.cniCacheDir ?? c.cniCacheDir;
  const ifname = s?.ifName ?? c.ifname;
  // attachments an earlier, larger run left: those carrying this instance's mark (host/ownership.ts)
  for (const e of listCachedAttachments(cacheDir)) {
    if (e.networkName === network && hasOwnerMark(c, e.cniArgs)) ids.add(e.containerId);
  }
  const byNode = new Map<number, string[]>();
  for (const id of ids) {
    const node = nodeOfContainer(c, id);
    if (node !== undefined) byNode.set(node, [...(byNode.get(node) ?? []), id]);
  }
  const handled = [...byNode.values()].flat();
  if (handled.length === 0) return handled;
  const pluginDirs = s?.pluginDirs ?? c.pluginDirs.filter((d) => existsSync(d));
  const progress = createProgress('detach', handled.length, { quiet: c.json || Boolean(ctx.log.quiet) });
  await mapLimit([...byNode.entries()], c.concurrency, async ([node, nodeIds]) => {
    const n = nodeNames(c, node);
    const list = isMountPoint(n.pin) ? nodeList(n.confFile, cacheDir, network, nodeIds, ifname) : undefined;
    if (!list) {
      // the node is gone (or nothing is left to run DEL with): what remains is bookkeeping on disk
      for (const id of nodeIds) {
        deleteCacheEntry(cacheDir, network, id, ifname);
        progress.tick();
      }
      for (const l of readLeases(n.ipamDataDir, network)) {
        if (nodeIds.includes(l.containerId)) rmSync(path.join(leaseDir(n.ipamDataDir, network), l.address), { force: true });
      }
      return;
    }
    const cni = runtimeFor(ctx, pluginDirs, n.pin);
    const pinned: string[] = [];
    await mapLimit(nodeIds, c.concurrency, async (id) => {
      const pin = path.join(c.netnsDir, id);
      // DEL enters the netns only through a pin that is a network namespace (ours: the id is)
      const netns = pinKind(pin) === 'netns' ? pin : '';
      const cached = readCacheEntry(cacheDir, network, id, ifname);
      const caps = cached?.capabilityArgs as Record<string, unknown> | undefined;
      await cni.delNetworkList(list, runtimeConf(ctx, netns, id, caps && Object.keys(caps).length > 0 ? caps : undefined));
      faultPoint('cni-attach:down-after-del');
      if (netns) pinned.push(netns);
      progress.tick();
    });
    // proof, as on the host: a node bridge without ports means no eth0 is left; else each container is looked into
    const ports = await readLinks(ctx.exec, { pin: n.pin, args: ['link', 'show', 'master', c.bridge], allowFail: true });
    if (ports.length > 0) {
      for (const netns of pinned) {
        if (await linkInNetns(ctx.exec, netns, ifname)) throw new Error(`${ifname} is still present in ${netns} after CNI DEL`);
      }
    }
  }).finally(() => progress.done());
  return handled;
}

/** The node's network for DEL: its config file, or the conflist a cache entry of one of its containers keeps. */
function nodeList(confFile: string, cacheDir: string, network: string, ids: string[], ifname: string): NetworkConfigList | undefined {
  if (existsSync(confFile)) {
    try {
      return confFromBytes(readFileSync(confFile), confFile);
    } catch {
      /* replaced by something else: try the cache */
    }
  }
  for (const id of ids) {
    const entry = readCacheEntry(cacheDir, network, id, ifname);
    if (!entry?.config) continue;
    try {
      return confFromBytes(Buffer.from(entry.config, 'base64'), 'CNI cache entry');
    } catch {
      /* next */
    }
  }
  return undefined;
}
