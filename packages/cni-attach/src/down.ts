import { existsSync } from 'node:fs';
import { type CniAttachState, type Ctx, faultPoint, requireRoot } from '@cni-demo/core';
import { linkInNetns, runtimeConf, runtimeFor } from './attach.js';
import { removeLeakedMasq } from './masq.js';
import { loadListForDown, releaseLeases, removeConfCopy } from './recover.js';

/** CNI DEL with the cached result as prevResult; then shows that the interface is gone. */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('cni-attach down');
  const s = ctx.state.read<CniAttachState>('cni-attach');
  const list = loadListForDown(ctx, s);
  const netns = existsSync(ctx.names.netnsPath) ? ctx.names.netnsPath : '';
  if (list) {
    const cni = runtimeFor(ctx, s?.pluginDirs ?? ctx.config.pluginDirs.filter((d) => existsSync(d)));
    const rt = runtimeConf(ctx, netns);
    await cni.delNetworkList(list, rt);
    faultPoint('cni-attach:down-after-del');
    if (netns) {
      if (await linkInNetns(ctx, netns, rt.ifName)) {
        throw new Error(`${rt.ifName} is still present in ${netns} after CNI DEL`);
      }
      ctx.log.info(`${rt.ifName} is gone from ${netns}`);
    }
  } else {
    const leases = releaseLeases(ctx);
    ctx.log.info(`cni-attach: no network config left to run DEL with${leases.length ? `; released leases ${leases.join(', ')}` : ''}`);
  }
  await removeLeakedMasq(ctx, list?.name ?? s?.network ?? ctx.config.network);
  removeConfCopy(ctx);
  ctx.state.remove('cni-attach');
  ctx.state.removeDirIfEmpty();
}
