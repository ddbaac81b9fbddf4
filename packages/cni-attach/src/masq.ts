import { containerIds, type Ctx, type MasqChain, removeMasqChains } from '@cni-demo/core';

/**
 * Removes the bridge plugin's per-attachment NAT chains (iptables and ip6tables) that its DEL left behind:
 * it leaves them whenever the netns was already gone (containernetworking/plugins issue 810). Matched on
 * the exact comment `name: "<network>" id: "<container id>"`, so no other attachment's chain is touched.
 */
export async function removeLeakedMasq(ctx: Ctx, network = ctx.config.network, ids = containerIds(ctx.config)): Promise<MasqChain[]> {
  const removed = await removeMasqChains(ctx.exec, network, ids);
  if (removed.length > 0) {
    ctx.log.info(
      `removed ${removed.length} masquerade chain(s) the bridge plugin left: ${removed.map((c) => `${c.tool} ${c.chain}`).join(', ')}`,
    );
  }
  return removed;
}
