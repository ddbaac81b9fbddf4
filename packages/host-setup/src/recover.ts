import { existsSync, readFileSync, rmSync } from 'node:fs';
import { confFromFile } from '@cni-demo/cni';
import { type Ctx, generatedConfText, isMarkedBridge, isMarkedLink, loadNetconf, localConfig, nodeMode } from '@cni-demo/core';
import { deleteBridge } from './bridge.js';
import { deleteMasterVeth, masterPeerName } from './network.js';

export const isOurBridge = (ctx: Ctx) => isMarkedBridge(ctx.config.bridge, ctx.config.id);

/**
 * host-setup down without a state file (removed, or corrupt and set aside): only what carries our mark
 * goes. The generated network config goes with our bridge when it is exactly what host-setup writes (a
 * user's --netconf file never goes); sysctls stay, since their values from before the demo are unknown.
 */
export async function downWithoutState(ctx: Ctx): Promise<void> {
  if (ctx.config.netconf !== '') {
    await userNetworkDownWithoutState(ctx);
    return;
  }
  if (!isOurBridge(ctx)) {
    ctx.log.info('host-setup: no state and no bridge of ours; nothing to undo');
    return;
  }
  const conf = ctx.names.confFile;
  // a VM as one node of several wrote its node's network (localConfig), with the node options
  const text =
    nodeMode(ctx.config) === 'vm'
      ? generatedConfText(localConfig(ctx.config), { node: { ipamDataDir: ctx.config.ipamDataDir } })
      : generatedConfText(ctx.config);
  if (existsSync(conf) && readFileSync(conf, 'utf8') === text) {
    rmSync(conf, { force: true });
  }
  const r = await deleteBridge(ctx, ctx.config.bridge);
  if (r === 'in-use') ctx.log.warn(`bridge ${ctx.config.bridge} still has ports attached; left in place (run cni-attach down first)`);
}

/** The user's network read again from its file: the bridges and the --master-veth pair that carry our mark go. */
async function userNetworkDownWithoutState(ctx: Ctx): Promise<void> {
  let view: ReturnType<typeof loadNetconf>['view'];
  try {
    view = loadNetconf(ctx.config.netconf, confFromFile).view;
  } catch (e) {
    ctx.log.warn(`host-setup: no state, and ${(e as Error).message}: only links named by the config can be looked for`);
    return;
  }
  const id = ctx.config.id;
  const mine = view.bridges.filter((b) => isMarkedLink(b, id));
  for (const b of mine) {
    if ((await deleteBridge(ctx, b)) === 'in-use')
      ctx.log.warn(`bridge ${b} still has ports attached; left in place (run cni-attach down first)`);
  }
  const parent = view.parent?.name;
  const masterGone = parent ? await deleteMasterVeth(ctx, { master: parent, peer: masterPeerName(parent), addrs: [] }) : false;
  if (mine.length === 0 && !masterGone) ctx.log.info('host-setup: no state and no link of ours; nothing to undo');
}
