import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  bridgeMark,
  type Ctx,
  type Exec,
  faultPoint,
  findNodeMasqRules,
  getLink,
  type HostSetupState,
  IPTABLES_TOOLS,
  isMarkedLink,
  isMarkedNode,
  isMountPoint,
  linkExists,
  linkWithAddress,
  mapLimit,
  type NodeRecord,
  type NodesState,
  type NodeView,
  nodeList,
  nodeMode,
  nodeName,
  nodeRoutes,
  nodeSubnets,
  readLinks,
  readNode,
  readRoutes,
  requireRoot,
  underlayAddress,
  underlayLinkLocal,
} from '@cni-demo/core';
import { masqRules, nodeBatch, nodeRecord, restoreInput, routeBatch } from './plan.js';

/**
 * The nodes, made after host-setup checked the host for them. netns mode: the underlay bridge on the host, then
 * every node (its namespace, pinned like a container's and named `<id>-n<i>`; its end of the underlay; its own
 * bridge with the node's gateways; forwarding and masquerade inside it), then, once all are up, each node's routes
 * to the others' pod subnets. vm mode: this machine is node `nodeIndex`; it gets its routes to the other VMs.
 * One node: nothing to do, the host is the node (today's demo).
 */
export async function up(ctx: Ctx): Promise<NodesState | undefined> {
  const mode = nodeMode(ctx.config);
  if (mode === 'single') return undefined;
  requireRoot('nodes');
  ctx.state.require<HostSetupState>('host-setup', 'nodes');
  return mode === 'netns' ? upNetns(ctx) : upVm(ctx);
}

async function upNetns(ctx: Ctx): Promise<NodesState> {
  const c = ctx.config;
  const nodes = nodeList(c).map((n) => nodeRecord(c, n));
  // the pins an earlier run of this instance meant to make (a kill may have left one made but not yet marked)
  const meant = new Set((ctx.state.read<NodesState>('nodes')?.nodes ?? []).map((n) => n.pin));
  // the intent first: a kill from here on leaves down (and the next up) a map of what may exist
  const state: NodesState = { mode: 'netns', underlaySubnet: c.underlaySubnet, underlayBridge: c.underlayBridge, nodes };
  ctx.state.write('nodes', state);
  faultPoint('nodes:after-state');

  await ensureUnderlayBridge(ctx);
  // this process's own namespace is "the host" the underlay veths come back to (a test may run it inside another)
  const hostNs = `/proc/${process.pid}/ns/net`;
  const plugged = await mapLimit(nodes, ctx.config.concurrency, async (n, k) => {
    const made = await ensureNode(ctx, n, hostNs, meant);
    if (k === 0) faultPoint('nodes:after-node');
    return made;
  });
  // every host end into the underlay bridge, marked, up: one process for all of them
  const lines = nodes.flatMap((n, k) =>
    plugged[k]?.fresh || !isMarkedLink(n.hostVeth ?? '', c.id)
      ? [`link set dev ${n.hostVeth} master ${c.underlayBridge} alias ${bridgeMark(c.id)}`, `link set dev ${n.hostVeth} up`]
      : [],
  );
  if (lines.length > 0) await ctx.exec('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
  faultPoint('nodes:before-routes');
  // routes last, once every node is up: each node to every other node's pod subnets via its underlay address
  await mapLimit(nodes, ctx.config.concurrency, async (n, k) => {
    const batch = routeBatch(n, plugged[k]?.view?.routes);
    if (batch.length > 0) await inNode(ctx.exec, n.pin ?? '', ['ip', '-batch', '-'], `${batch.join('\n')}\n`);
  });
  ctx.log.info(
    `${nodes.length} nodes (${nodes[0]?.name} … ${nodes.at(-1)?.name}) on underlay ${c.underlayBridge} ${c.underlaySubnet}, routed to each other`,
  );
  return state;
}

const inNode = (exec: Exec, pin: string, argv: string[], input?: string) =>
  exec('nsenter', [`--net=${pin}`, ...argv], input !== undefined ? { input } : {});

/** The underlay bridge on the host, marked as this instance's; no address (the host is not on the underlay). */
async function ensureUnderlayBridge(ctx: Ctx): Promise<void> {
  const { underlayBridge: name, id } = ctx.config;
  const found = await getLink(ctx.exec, name);
  const lines = [
    ...(found ? [] : [`link add name ${name} type bridge`]),
    ...(found?.up ? [] : [`link set dev ${name} up`]),
    ...(isMarkedLink(name, id) ? [] : [`link set dev ${name} alias ${bridgeMark(id)}`]),
  ];
  if (lines.length > 0) await ctx.exec('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/**
 * One node, complete: made (namespace pinned, and everything inside it in one `ip -batch` that runs in it) when
 * absent, else completed from what it has. Then forwarding and masquerade inside it. Returns what it found.
 */
async function ensureNode(
  ctx: Ctx,
  n: NodeRecord,
  hostNs: string,
  meant: Set<string | undefined>,
): Promise<{ fresh: boolean; view: NodeView | undefined }> {
  const c = ctx.config;
  const pin = n.pin ?? '';
  let view = isMountPoint(pin) ? await readNode(ctx.exec, pin) : undefined;
  if (view && !isMarkedNode(view, c.id) && !meant.has(pin)) {
    throw new Error(`${pin} is a namespace this instance did not make; it is left alone`);
  }
  // a host end whose node end is gone (its namespace was replaced) is in the way of a new pair; it is ours when it
  // carries the mark, or when an earlier run meant to make it (killed before marking it)
  const ul = view?.links.find((l) => l.ifname === n.underlayIf);
  const oursVeth = n.hostVeth && (isMarkedLink(n.hostVeth, c.id) || meant.has(n.pin));
  if (!ul && oursVeth && linkExists(n.hostVeth ?? '')) await ctx.exec('ip', ['link', 'del', n.hostVeth ?? ''], { allowFail: true });
  const fresh = !view;
  if (!view) {
    mkdirSync(path.dirname(pin), { recursive: true, mode: 0o755 });
    if (!existsSync(pin)) writeFileSync(pin, '', { mode: 0o444 });
    // unshare makes the namespace, bind-mounts it on the pin (as `ip netns add` does) and runs ip inside it: the
    // node and what is in it come from one process
    await ctx.exec('unshare', [`--net=${pin}`, '--', 'ip', '-batch', '-'], { input: `${nodeBatch(c, n, undefined, hostNs).join('\n')}\n` });
  } else {
    const lines = nodeBatch(c, n, view, hostNs);
    if (lines.length > 0) await inNode(ctx.exec, pin, ['ip', '-batch', '-'], `${lines.join('\n')}\n`);
    view = lines.length > 0 ? await readNode(ctx.exec, pin) : view;
  }
  // forwarding inside the node only: the host's sysctls are not this step's business
  await inNode(ctx.exec, pin, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  if (c.ipMasq) await ensureMasq(ctx, n, pin, fresh);
  return { fresh, view };
}

/** The node's masquerade (see plan.ts masqRules), replacing whatever of ours is there if it differs. */
async function ensureMasq(ctx: Ctx, n: Pick<NodeRecord, 'subnet4' | 'subnet6'>, pin: string | undefined, fresh: boolean): Promise<void> {
  const want = masqRules(ctx.config, n);
  const present = fresh ? [] : await findNodeMasqRules(ctx.exec, ctx.config.id, pin);
  const same = (tool: (typeof IPTABLES_TOOLS)[number]) => {
    const have = present.filter((p) => p.tool === tool).map((p) => p.rule.args);
    return (
      have.length === want[tool].length && want[tool].every((w) => have.some((h) => h.length === w.length && h.every((x, k) => x === w[k])))
    );
  };
  await Promise.all(
    IPTABLES_TOOLS.map(async (tool) => {
      if (same(tool)) return;
      const wrap = (argv: string[]) => (pin ? ['nsenter', `--net=${pin}`, ...argv] : argv);
      for (const p of present.filter((x) => x.tool === tool)) {
        const [cmd, ...args] = wrap([tool, '-w', '-t', 'nat', '-D', 'POSTROUTING', ...p.rule.args]);
        await ctx.exec(cmd as string, args, { allowFail: true });
      }
      const [cmd, ...args] = wrap([`${tool}-restore`, '-w', '--noflush']);
      await ctx.exec(cmd as string, args, { input: restoreInput(want[tool]) });
    }),
  );
}

/**
 * A VM as node i: its underlay interface (the private network, carrying host number 10+i) gets the link-local
 * next hop the other nodes' IPv6 routes point at; its masquerade and its routes to every other VM's pod subnets
 * follow from the index alone, so no VM waits for another.
 */
async function upVm(ctx: Ctx): Promise<NodesState> {
  const c = ctx.config;
  const i = c.nodeIndex;
  const previous = ctx.state.read<NodesState>('nodes');
  const u4 = underlayAddress(c, i);
  const u6 = underlayLinkLocal(u4);
  const links = await readLinks(ctx.exec, { args: ['addr', 'show'] });
  const iface = linkWithAddress(links, u4);
  if (!iface) throw new Error(`node ${i}'s underlay address ${u4} is on no interface (host-setup checks this first)`);
  const hasLinkLocal = iface.addrs.some((a) => a.local.toLowerCase() === u6);
  const record: NodeRecord = {
    index: i,
    name: nodeName(c, i),
    underlayIf: iface.ifname,
    underlay4: u4,
    underlay6: u6,
    ...nodeSubnets(c, i),
    bridge: c.bridge,
    routes: nodeRoutes(c, i),
  };
  const state: NodesState = {
    mode: 'vm',
    underlaySubnet: c.underlaySubnet,
    nodes: [record],
    addedLinkLocal: previous?.addedLinkLocal ?? !hasLinkLocal,
  };
  ctx.state.write('nodes', state);
  faultPoint('nodes:after-state');
  if (!hasLinkLocal) await ctx.exec('ip', ['addr', 'add', `${u6}/64`, 'dev', iface.ifname, 'nodad']);
  if (c.ipMasq) await ensureMasq(ctx, record, undefined, false);
  faultPoint('nodes:before-routes');
  const batch = routeBatch(record, await readRoutes(ctx.exec, { filter: [] }));
  if (batch.length > 0) await ctx.exec('ip', ['-batch', '-'], { input: `${batch.join('\n')}\n` });
  ctx.log.info(`node ${i} of ${c.nodes}: underlay ${u4} on ${iface.ifname}, routes to ${c.nodes - 1} other nodes' pod subnets`);
  return state;
}
