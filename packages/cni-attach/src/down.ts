import { existsSync } from 'node:fs';
import { type CniAttachState, type Ctx, requireRoot } from '@cni-demo/core';
import { linkInNetns, loadList, runtimeConf, runtimeFor } from './attach.js';

/** CNI DEL with the cached result as prevResult; then shows that the interface is gone. */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('cni-attach down');
  const s = ctx.state.read<CniAttachState>('cni-attach');
  const confFile = s?.confFile ?? ctx.names.confFile;
  if (!s && !existsSync(confFile)) {
    ctx.log.info('cni-attach: nothing to undo');
    return;
  }
  const list = loadList(confFile);
  const cni = runtimeFor(ctx, s?.pluginDirs ?? ctx.config.pluginDirs.filter((d) => existsSync(d)));
  const netns = existsSync(ctx.names.netnsPath) ? ctx.names.netnsPath : '';
  const rt = runtimeConf(ctx, netns);
  await cni.delNetworkList(list, rt);
  if (netns) {
    if (await linkInNetns(ctx, netns, rt.ifName)) {
      throw new Error(`${rt.ifName} is still present in ${netns} after CNI DEL`);
    }
    ctx.log.info(`${rt.ifName} is gone from ${netns}`);
  }
  ctx.state.remove('cni-attach');
  ctx.state.removeDirIfEmpty();
}
