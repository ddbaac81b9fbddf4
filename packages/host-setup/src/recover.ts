import { existsSync, readFileSync, rmSync } from 'node:fs';
import { type Ctx, isMarkedBridge } from '@cni-demo/core';
import { deleteBridge } from './bridge.js';
import { buildNetConf } from './netconf.js';

export const isOurBridge = (ctx: Ctx) => isMarkedBridge(ctx.config.bridge, ctx.config.id);

/**
 * host-setup down without a state file (removed, or corrupt and set aside): only what carries our mark
 * goes. The network config goes with our bridge when it is exactly what host-setup writes; sysctls stay,
 * since their values from before the demo are unknown.
 */
export async function downWithoutState(ctx: Ctx): Promise<void> {
  if (!isOurBridge(ctx)) {
    ctx.log.info('host-setup: no state and no bridge of ours; nothing to undo');
    return;
  }
  const conf = ctx.names.confFile;
  if (existsSync(conf) && readFileSync(conf, 'utf8') === `${JSON.stringify(buildNetConf(ctx.config), null, 2)}\n`) {
    rmSync(conf, { force: true });
  }
  const r = await deleteBridge(ctx, ctx.config.bridge);
  if (r === 'in-use') ctx.log.warn(`bridge ${ctx.config.bridge} still has ports attached; left in place (run cni-attach down first)`);
}
