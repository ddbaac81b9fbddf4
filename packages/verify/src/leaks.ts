import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { cacheFile, confFromFile, listCacheFiles } from '@cni-demo/cni';
import {
  bridgePorts,
  containerIds,
  type Ctx,
  type Exec,
  forwardRulesIn,
  IPTABLES_TOOLS,
  masqChainsIn,
  findNodeMasqRules,
  type HostSetupState,
  hostRecordFile,
  instanceNetwork,
  instanceRecord,
  isMarkedBridge,
  isMarkedLink,
  isMarkedNode,
  linkWithAddress,
  markedUnderlayVeths,
  type NodesState,
  nodePinsIn,
  nodeRoutes,
  readNode,
  readRoutes,
  routesPresent,
  underlayAddress,
  underlayLinkLocal,
  leaseDir,
  claimedByOther,
  hasOwnerMark,
  isOwnBundle,
  recordedContainerIds,
  linkExists,
  type NetworkView,
  networkLeaseDir,
  mapLimit,
  mountPoints,
  ownerOf,
  readTables,
  readLeases,
  readLinks,
  realMountPath,
  runcDir,
  runcState,
} from '@cni-demo/core';

/** One object the demo made that still exists. */
export interface Leak {
  kind:
    | 'bridge'
    | 'veth'
    | 'link'
    | 'netns-pin'
    | 'runc-container'
    | 'lease'
    | 'cni-cache'
    | 'nat-chain'
    | 'forward-rule'
    | 'mount'
    | 'state'
    | 'netconf'
    | 'host-record'
    | 'node'
    | 'underlay'
    | 'route'
    | 'masquerade';
  what: string;
}

/** The host side of the veth whose other end is `ifname` inside the netns at `pin`. */
async function hostVethOf(exec: Exec, pin: string, ifname: string): Promise<string | undefined> {
  const peer = (await readLinks(exec, { pin, args: ['link', 'show', 'dev', ifname], allowFail: true }))[0]?.peerIfindex;
  if (!peer) return undefined;
  return (await readLinks(exec, { args: ['link', 'show'], allowFail: true })).find((l) => l.ifindex === peer)?.ifname;
}

/**
 * Everything the demo makes, looked up by its derived name or mark, never by state alone: a list of what
 * is still there. Empty after a complete down. A bridge made by hand and adopted carries no mark and is
 * not a leak; the lock file of the run doing the audit is not either.
 */
export async function auditLeaks(ctx: Ctx): Promise<Leak[]> {
  const c = ctx.config;
  const exec = ctx.exec;
  let host: HostSetupState | undefined;
  try {
    host = ctx.state.read<HostSetupState>('host-setup');
  } catch {
    /* corrupt: listed as a state file below */
  }
  const view = auditedNetwork(ctx, host);
  const ids = instanceIds(ctx, view);
  // pins and runc containers count only when this instance has a record of them (or runc says they were made
  // from one of its bundles): a pin or container of the same name made by anyone else is not our leak
  const recorded = recordedContainerIds(c);
  const leaks: Leak[] = [];
  const network = view?.name ?? c.network;
  const bridges = view ? [...new Set([...(host?.createdBridge ? [host.bridge] : []), ...view.bridges])] : [c.bridge];

  // the reads that start processes do not depend on each other: all at once, collected in order below. One
  // <tool>-save per tool reads both tables looked in: the masquerade chains (nat) and the FORWARD fix (filter)
  const tables = Promise.all(IPTABLES_TOOLS.map(async (tool) => ({ tool, t: await readTables(exec, tool) })));
  const masqRead = tables.then((ts) =>
    ts.flatMap(({ tool, t }) => {
      const nat = t?.get('nat');
      return nat ? masqChainsIn(nat, network, ids).map((ch) => ({ tool, ...ch })) : [];
    }),
  );
  const forwardBridge = view?.bridge?.name ?? host?.bridge ?? c.bridge;
  const forwardRead = tables.then((ts) =>
    ts.flatMap(({ tool, t }) => forwardRulesIn(t?.get('filter'), c.id, forwardBridge).map((rule) => ({ tool, rule }))),
  );
  // runc keeps one folder per container under its root: only an id with a folder is asked about
  const runcUser = c.rootless ? ownerOf(c.runcRoot) : undefined;
  const runcRead = mapLimit(
    ids.filter((id) => existsSync(runcDir(c.runcRoot, id))),
    8,
    async (id) => {
      const st = await runcState(exec, c.runcRoot, id, runcUser);
      return { id, known: st !== undefined, ours: st ? isOwnBundle(c, id, st.bundle) : recorded.has(id) };
    },
  );
  for (const p of [masqRead, forwardRead, runcRead]) p.catch(() => undefined);

  // bridges carry the mark when this instance made them (host-setup) or its ADD did (the network's plugin)
  for (const b of bridges) {
    if (!b || !linkExists(b) || !isMarkedLink(b, c.id)) continue;
    leaks.push({ kind: 'bridge', what: `bridge ${b} (made by this instance)` });
    for (const p of bridgePorts(b) ?? []) leaks.push({ kind: 'veth', what: `${p} on bridge ${b}` });
  }
  const master = view?.parent?.name;
  if (master && linkExists(master) && isMarkedLink(master, c.id)) {
    leaks.push({ kind: 'link', what: `${master} (the --master-veth pair this instance made)` });
  }

  const mounts = mountPoints();
  for (const id of ids) {
    const pin = path.join(c.netnsDir, id);
    const mounted = mounts.filter((m) => m === realMountPath(pin));
    if (!recorded.has(id)) continue;
    if (existsSync(pin) || mounted.length > 0) {
      leaks.push({ kind: 'netns-pin', what: `${pin}${mounted.length ? ` (mounted ${mounted.length}x)` : ''}` });
      const veth = mounted.length ? await hostVethOf(exec, pin, c.ifname) : undefined;
      if (veth && !leaks.some((l) => l.kind === 'veth' && l.what.startsWith(`${veth} `))) {
        leaks.push({ kind: 'veth', what: `${veth} (peer of ${c.ifname} in ${pin})` });
      }
    }
  }
  for (const { id, known, ours } of await runcRead) {
    if (!ours) continue;
    leaks.push({
      kind: 'runc-container',
      what: known ? `runc container ${id} (root ${c.runcRoot})` : `runc state folder ${runcDir(c.runcRoot, id)} (runc cannot read it)`,
    });
  }

  const runDir = realMountPath(ctx.names.runDir);
  for (const m of mounts) if (m.startsWith(`${runDir}/`)) leaks.push({ kind: 'mount', what: m });

  if (view?.leaseStore) {
    for (const l of readLeases(view.leaseStore, view.name)) {
      if (ids.includes(l.containerId)) {
        leaks.push({ kind: 'lease', what: `host-local lease ${l.address} for ${l.containerId} in ${networkLeaseDir(view)}` });
      }
    }
  }

  // by derived name first (finds corrupt and half-written entries too), then by content
  const entryNames = new Set(ids.map((id) => path.basename(cacheFile(c.cniCacheDir, network, id, c.ifname))));
  for (const f of listCacheFiles(c.cniCacheDir)) {
    if (entryNames.has(f.name) || (f.entry?.networkName === network && ids.includes(f.entry.containerId))) {
      leaks.push({ kind: 'cni-cache', what: f.file });
    }
  }

  for (const ch of await masqRead) {
    leaks.push({ kind: 'nat-chain', what: `${ch.tool} -t nat ${ch.chain} (masquerade for ${network})` });
  }
  for (const { tool, rule } of await forwardRead) {
    leaks.push({ kind: 'forward-rule', what: `${tool} FORWARD ${rule.slice(0, 2).join(' ')} ACCEPT` });
  }

  leaks.push(...(await nodeLeaks(ctx, ids)));

  for (const f of list(ctx.names.runDir)) leaks.push({ kind: 'state', what: path.join(ctx.names.runDir, f) });
  // the host record outlives the run folder: an entry left there holds the forwarding sysctls on for good
  const rec = instanceRecord(ctx.names.runDir);
  const conf = host?.wroteConf ? host.confFile : rec?.conf?.file;
  if (conf && existsSync(conf)) leaks.push({ kind: 'netconf', what: conf });
  if (rec)
    leaks.push({ kind: 'host-record', what: `entry ${ctx.names.runDir} in ${hostRecordFile()} (keeps forwarding as the demo set it)` });
  return leaks;
}

export function formatLeaks(leaks: Leak[]): string {
  if (leaks.length === 0) return 'no leaks: nothing the demo made is left on the host';
  const w = Math.max(...leaks.map((l) => l.kind.length));
  return [`${leaks.length} object(s) left behind:`, ...leaks.map((l) => `  ${l.kind.padEnd(w)}  ${l.what}`)].join('\n');
}

/**
 * The container ids this instance may have left something under: those it has a record of (state, bundle
 * folders), those whose CNI cache entry carries its mark (an up with another --containers), and the
 * configured ones no other instance owns.
 */
export function instanceIds(ctx: Ctx, view?: NetworkView): string[] {
  const c = ctx.config;
  const network = view?.name ?? c.network;
  const marked = listCacheFiles(c.cniCacheDir)
    .filter((f) => f.entry?.networkName === network && hasOwnerMark(c, f.entry.cniArgs))
    .map((f) => f.entry?.containerId ?? '');
  const configured = containerIds(c).filter((id) => claimedByOther(c, id) === undefined);
  return [...new Set([...configured, ...recordedContainerIds(c), ...marked])];
}

/**
 * The network whose objects are looked for: host-setup's record, else the --netconf file, else the generated
 * one. Undefined (with a warning) when a --netconf file is gone and no state names the network: then only what
 * carries the instance's own names (containers, pins, mounts, state) can be audited.
 */
function auditedNetwork(ctx: Ctx, host: HostSetupState | undefined): NetworkView | undefined {
  try {
    return instanceNetwork(ctx.config, ctx.names.confFile, confFromFile, host);
  } catch (e) {
    ctx.log.warn(`leak audit: the network's own objects are not looked for: ${(e as Error).message}`);
    return undefined;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * What several nodes leave when a down did not finish: node namespaces (`<id>-n<i>` pins; a pin named so but made
 * by someone else is not ours and not listed), the underlay bridge and its veths (by mark), leases in a node's own
 * store; on a VM, the routes to the other nodes, the masquerade rules and the link-local next hop.
 */
async function nodeLeaks(ctx: Ctx, ids: string[]): Promise<Leak[]> {
  const c = ctx.config;
  const out: Leak[] = [];
  let recorded: NodesState | undefined;
  try {
    recorded = ctx.state.read<NodesState>('nodes');
  } catch {
    /* corrupt: listed as a state file */
  }
  const meant = new Set((recorded?.nodes ?? []).map((n) => n.pin));
  for (const pin of nodePinsIn(c)) {
    const view = await readNode(ctx.exec, pin);
    if (meant.has(pin) || isMarkedNode(view, c.id))
      out.push({ kind: 'node', what: `node namespace pinned at ${pin}${view ? '' : ' (not mounted)'}` });
  }
  const bridge = recorded?.underlayBridge ?? c.underlayBridge;
  if (linkExists(bridge) && isMarkedLink(bridge, c.id)) out.push({ kind: 'underlay', what: `underlay bridge ${bridge}` });
  const recordedVeths = (recorded?.nodes ?? []).flatMap((n) => (n.hostVeth && linkExists(n.hostVeth) ? [n.hostVeth] : []));
  for (const v of new Set([...recordedVeths, ...markedUnderlayVeths({ id: c.id, underlayBridge: bridge })])) {
    out.push({ kind: 'underlay', what: `underlay veth ${v}` });
  }
  // a node's lease store is in its folder under the run folder (listed as state too): each lease names its container
  const nodesDir = path.join(ctx.names.runDir, 'nodes');
  for (const node of list(nodesDir)) {
    const store = path.join(nodesDir, node, 'leases');
    for (const l of readLeases(store, c.network)) {
      if (ids.includes(l.containerId))
        out.push({ kind: 'lease', what: `host-local lease ${l.address} for ${l.containerId} in ${leaseDir(store, c.network)}` });
    }
  }
  if (recorded?.mode === 'vm' || c.nodeIndex >= 1) {
    const node = recorded?.nodes[0];
    const i = node?.index ?? c.nodeIndex;
    const wanted = node?.routes ?? nodeRoutes(c, i);
    const [routes, masq, links] = await Promise.all([
      readRoutes(ctx.exec, { filter: [], allowFail: true }),
      findNodeMasqRules(ctx.exec, c.id),
      readLinks(ctx.exec, { args: ['addr', 'show'], allowFail: true }),
    ]);
    for (const r of routesPresent(routes, wanted)) out.push({ kind: 'route', what: `route to node ${r.node}'s ${r.dst} via ${r.via}` });
    for (const m of masq) out.push({ kind: 'masquerade', what: `${m.tool} -t nat ${m.rule.line.replace(/^-A /, '')}` });
    const u4 = node?.underlay4 ?? underlayAddress(c, i);
    const u6 = node?.underlay6 ?? underlayLinkLocal(u4);
    const iface = linkWithAddress(links, u4);
    if (iface && recorded?.addedLinkLocal !== false && iface.addrs.some((a) => a.local.toLowerCase() === u6)) {
      out.push({ kind: 'underlay', what: `link-local next hop ${u6} on ${iface.ifname}` });
    }
  }
  return out;
}
