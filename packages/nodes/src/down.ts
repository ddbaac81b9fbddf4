import { rmSync } from 'node:fs';
import {
  bridgePorts,
  type Ctx,
  faultPoint,
  findNodeMasqRules,
  isMarkedLink,
  isMarkedNode,
  isMountPoint,
  linkExists,
  linkWithAddress,
  markedUnderlayVeths,
  mapLimit,
  type NodeRecord,
  type NodesState,
  nodePinsIn,
  nodeRoutes,
  readLinks,
  readNode,
  readRoutes,
  requireRoot,
  routesPresent,
  underlayAddress,
  underlayLinkLocal,
} from '@cni-demo/core';

/**
 * Undoes the nodes, found by state, by derived name and by mark, so a kill at any point of up (or of an earlier
 * down) is finished here. netns mode: the underlay veths (both ends go at once, synchronously, unlike a namespace's
 * links, which the kernel removes some time after its last pin is gone), then the node namespaces, then the
 * underlay bridge. vm mode: the routes, the masquerade and the link-local next hop. Nothing of the mode not in use.
 */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('nodes down');
  const s = ctx.state.read<NodesState>('nodes');
  const vm = s?.mode === 'vm' || (!s && ctx.config.nodeIndex >= 1);
  if (vm) await downVm(ctx, s);
  else await downNetns(ctx, s);
  ctx.state.remove('nodes');
  ctx.state.removeDirIfEmpty();
}

async function downNetns(ctx: Ctx, s: NodesState | undefined): Promise<void> {
  const c = ctx.config;
  const bridge = s?.underlayBridge ?? c.underlayBridge;
  // the veths: those recorded, and any `<underlayBridge>-<i>` carrying our mark (an up with more --nodes)
  // (a recorded one may be unmarked: a kill between making it and marking it)
  const veths = new Set([
    ...(s?.nodes ?? []).flatMap((n) => (n.hostVeth && linkExists(n.hostVeth) ? [n.hostVeth] : [])),
    ...markedUnderlayVeths({ id: c.id, underlayBridge: bridge }),
  ]);
  if (veths.size > 0) {
    // -force: one that vanished meanwhile does not stop the others
    await ctx.exec('ip', ['-force', '-batch', '-'], {
      input: `${[...veths].map((v) => `link del dev ${v}`).join('\n')}\n`,
      allowFail: true,
    });
  }
  faultPoint('nodes:down-after-veths');
  // the pins: those recorded (made or about to be made by this instance), and `<id>-n<i>` pins carrying our mark
  const recorded = new Set((s?.nodes ?? []).map((n) => n.pin).filter((p): p is string => Boolean(p)));
  const found = nodePinsIn(c).filter((p) => !recorded.has(p));
  const foreign: string[] = [];
  await mapLimit([...recorded, ...found], c.concurrency, async (pin) => {
    if (!recorded.has(pin) && !isMarkedNode(await readNode(ctx.exec, pin), c.id)) {
      foreign.push(pin);
      return;
    }
    while (isMountPoint(pin)) await ctx.exec('umount', [pin]);
    rmSync(pin, { force: true });
  });
  if (foreign.length > 0) ctx.log.warn(`left ${foreign.join(', ')} alone: named like this instance's nodes, but not made by it`);
  if (linkExists(bridge) && isMarkedLink(bridge, c.id)) {
    const ports = bridgePorts(bridge) ?? [];
    if (ports.length === 0) await ctx.exec('ip', ['link', 'del', bridge]);
    else ctx.log.warn(`underlay bridge ${bridge} still has ports (${ports.join(', ')}) that are not this instance's; left in place`);
  }
}

async function downVm(ctx: Ctx, s: NodesState | undefined): Promise<void> {
  const c = ctx.config;
  const i = s?.nodes[0]?.index ?? c.nodeIndex;
  const record: Pick<NodeRecord, 'routes' | 'underlay4' | 'underlay6'> = s?.nodes[0] ?? {
    routes: nodeRoutes(c, i),
    underlay4: underlayAddress(c, i),
    underlay6: underlayLinkLocal(underlayAddress(c, i)),
  };
  const [table, masq, links] = await Promise.all([
    readRoutes(ctx.exec, { filter: [] }),
    findNodeMasqRules(ctx.exec, c.id),
    readLinks(ctx.exec, { args: ['addr', 'show'] }),
  ]);
  const routes = routesPresent(table, record.routes);
  if (routes.length > 0) {
    await ctx.exec('ip', ['-force', '-batch', '-'], {
      input: `${routes.map((r) => `route del ${r.dst} via ${r.via}`).join('\n')}\n`,
      allowFail: true,
    });
  }
  for (const m of masq) await ctx.exec(m.tool, ['-w', '-t', 'nat', '-D', 'POSTROUTING', ...m.rule.args], { allowFail: true });
  faultPoint('nodes:down-after-veths');
  // the link-local next hop: taken away when up put it there (without state: it is derived, so it is ours)
  const iface = linkWithAddress(links, record.underlay4);
  if (iface && (s?.addedLinkLocal ?? true) && iface.addrs.some((a) => a.local.toLowerCase() === record.underlay6)) {
    await ctx.exec('ip', ['addr', 'del', `${record.underlay6}/64`, 'dev', iface.ifname], { allowFail: true });
  }
}
