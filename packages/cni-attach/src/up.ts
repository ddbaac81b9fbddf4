import { type CniAttachState, type Ctx, type EtcSource, faultPoint, fillEtcFiles, type HostSetupState, type RuncBundleState, requireRoot } from '@cni-demo/core';
import { addressesOf, linkInNetns, loadList, runtimeConf, runtimeFor } from './attach.js';
import { keepConfCopy } from './recover.js';

/** CNI ADD through the runtime library, as the walkthrough's CNI_COMMAND=ADD; the result is printed and kept. */
export async function up(ctx: Ctx): Promise<CniAttachState> {
  requireRoot('cni-attach');
  const host = ctx.state.require<HostSetupState>('host-setup', 'cni-attach');
  const bundle = ctx.state.require<RuncBundleState>('runc-bundle', 'cni-attach');
  const list = loadList(host.confFile);
  const cni = runtimeFor(ctx, host.pluginDirs);
  const rt = runtimeConf(ctx, bundle.netnsPath);

  let result = cni.getCachedResult(list, rt);
  if (result && !(await linkInNetns(ctx, bundle.netnsPath, rt.ifName))) {
    // cached but not wired (a crash, or the netns was replaced): release it and attach again
    await cni.delNetworkList(list, rt);
    result = undefined;
  }
  if (!result && (await linkInNetns(ctx, bundle.netnsPath, rt.ifName))) {
    // wired but never cached: an earlier ADD was killed midway; release what it made before adding again
    await cni.delNetworkList(list, rt);
  }
  if (!result) {
    keepConfCopy(ctx, list);
    faultPoint('cni-attach:before-add');
    try {
      result = await cni.addNetworkList(list, rt);
    } catch (e) {
      // every ADD gets a DEL, failed ones too: the bridge plugin may already have wired eth0
      await cni.delNetworkList(list, rt).catch(() => undefined);
      throw e;
    }
  }
  faultPoint('cni-attach:after-add');
  const state: CniAttachState = {
    network: list.name,
    confFile: host.confFile,
    containerId: rt.containerId,
    ifName: rt.ifName,
    netns: rt.netns,
    pluginDirs: host.pluginDirs,
    cniCacheDir: ctx.config.cniCacheDir,
    result: result as unknown as Record<string, unknown>,
    ...addressesOf(result),
  };
  // the plugins return DNS and addresses but write no files: the container's resolv.conf and hosts are ours
  if (bundle.etcFiles) fillEtcFiles(bundle.etcFiles, result as EtcSource);
  ctx.state.write('cni-attach', state);
  if (!ctx.config.json) ctx.log.out(`${JSON.stringify(result, null, 2)}\n`);
  ctx.log.info(`${rt.ifName} in ${rt.netns}: ${[state.ipv4, state.ipv6].filter(Boolean).join(', ')}`);
  return state;
}
