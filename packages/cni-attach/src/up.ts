import {
  bundleContainers,
  type CniAttachment,
  type CniAttachState,
  type ContainerBundle,
  type Ctx,
  createProgress,
  type EtcSource,
  faultPoint,
  fillEtcFiles,
  type HostSetupState,
  linkInNetns,
  mapLimit,
  nodeNames,
  nodeOfContainer,
  printable,
  type RuncBundleState,
  requireRoot,
  UserError,
} from '@cni-demo/core';
import { CniError, type CniRuntime, type NetworkConfigList } from '@cni-demo/cni';
import { addressesOf, capabilityArgsFor, loadList, markPluginBridges, runtimeConf, runtimeFor } from './attach.js';
import { keepConfCopy } from './recover.js';

/**
 * CNI ADD through the runtime library, as the walkthrough's CNI_COMMAND=ADD, for every container of the
 * instance with bounded concurrency (the spec allows parallel operations on different containers).
 */
export async function up(ctx: Ctx): Promise<CniAttachState> {
  requireRoot('cni-attach');
  const host = ctx.state.require<HostSetupState>('host-setup', 'cni-attach');
  const bundle = ctx.state.require<RuncBundleState>('runc-bundle', 'cni-attach');
  const list = loadList(host);
  const containers = bundleContainers(bundle);
  // several nodes here: each container's plugins run with its node's namespace as their host side, on the node's
  // own network config; otherwise the host's, as today
  const networks = new Map<number, { cni: CniRuntime; list: NetworkConfigList }>();
  const networkOf = (containerId: string) => {
    const node = host.nodes ? nodeOfContainer(ctx.config, containerId) : undefined;
    const spec = node ? host.nodes?.find((n) => n.index === node) : undefined;
    const key = spec ? spec.index : 0;
    let net = networks.get(key);
    if (!net) {
      net = spec
        ? { cni: runtimeFor(ctx, host.pluginDirs, nodeNames(ctx.config, spec.index).pin), list: loadList({ confFile: spec.confFile }) }
        : { cni: runtimeFor(ctx, host.pluginDirs), list };
      networks.set(key, net);
    }
    return { ...net, node };
  };
  // the conflist kept beside the state, so DEL still runs if the config file is gone by teardown time (the
  // nodes' configs are in their own folders, and in every cache entry)
  if (!host.nodes) keepConfCopy(ctx, list);

  const progress = createProgress('attach', containers.length, { quiet: ctx.config.json || Boolean(ctx.log.quiet) });
  const attach = async (c: ContainerBundle) => {
    const net = networkOf(c.containerId);
    const a = await attachOne(ctx, net.cni, net.list, c, net.node);
    progress.tick();
    return a;
  };
  // the first ADD runs alone: the firewall and portmap plugins create their shared chains on first use
  // without a lock, and two first ADDs at once race ("CHAIN_USER_ADD failed (File exists)"); nodes have neither
  const attachments = await (async () => {
    if (host.nodes) return mapLimit(containers, ctx.config.concurrency, attach);
    const [head, ...rest] = containers;
    if (!head) return [];
    const first = await attach(head);
    return [first, ...(await mapLimit(rest, ctx.config.concurrency, attach))];
  })().finally(async () => {
    progress.done();
    // a failed ADD may have made the bridge too (its DEL leaves it): marked all the same, so down removes it
    const marked = await markPluginBridges(ctx, host);
    if (marked.length > 0) ctx.log.info(`the ${list.plugins[0]?.type} plugin made bridge ${marked.join(', ')}: marked as this instance's`);
  });
  faultPoint('cni-attach:after-add');

  const first = attachments[0] as CniAttachment;
  const state: CniAttachState = {
    network: list.name,
    confFile: host.confFile,
    containerId: first.containerId,
    ifName: ctx.config.ifname,
    netns: first.netns,
    pluginDirs: host.pluginDirs,
    cniCacheDir: ctx.config.cniCacheDir,
    result: first.result,
    ipv4: first.ipv4,
    ipv6: first.ipv6,
    attachments,
  };
  ctx.state.write('cni-attach', state);
  if (attachments.length === 1) {
    // what the plugins said, as JSON with every control or bidi character escaped (printable keeps it valid JSON)
    if (!ctx.config.json) ctx.log.out(`${printable(JSON.stringify(first.result, null, 2), { keepNewlines: true })}\n`);
    ctx.log.info(`${state.ifName} in ${first.netns}: ${[first.ipv4, first.ipv6].filter(Boolean).join(', ')}`);
  } else {
    ctx.log.info(`${attachments.length} containers attached to ${list.name}`);
  }
  return state;
}

async function attachOne(ctx: Ctx, cni: CniRuntime, list: NetworkConfigList, c: ContainerBundle, node?: number): Promise<CniAttachment> {
  const caps = capabilityArgsFor(ctx, c.containerId);
  const rt = runtimeConf(ctx, c.netnsPath, c.containerId, caps);
  let result = cni.getCachedResult(list, rt);
  if (result && !(await linkInNetns(ctx.exec, c.netnsPath, rt.ifName, c.pid))) {
    // cached but not wired (a crash, or the netns was replaced): release it and attach again
    await cni.delNetworkList(list, rt);
    result = undefined;
  }
  if (!result && (await linkInNetns(ctx.exec, c.netnsPath, rt.ifName, c.pid))) {
    // wired but never cached: an earlier ADD was killed midway; release what it made before adding again
    await cni.delNetworkList(list, rt);
  }
  if (!result) {
    faultPoint('cni-attach:before-add');
    try {
      result = await cni.addNetworkList(list, rt);
    } catch (e) {
      // every ADD gets a DEL, failed ones too: the bridge plugin may already have wired eth0
      const undone = await cni.delNetworkList(list, rt).then(
        () => undefined,
        (d: unknown) => d,
      );
      throw addFailed(list, c.containerId, e, undone);
    }
  }
  // the plugins return DNS and addresses but write no files: the container's resolv.conf and hosts are ours.
  // A value they cannot hold (a line break in a search domain) is refused: the attachment is released again
  if (c.etcFiles) {
    try {
      fillEtcFiles(c.etcFiles, result as EtcSource);
    } catch (e) {
      await cni.delNetworkList(list, rt).catch(() => undefined);
      throw e;
    }
  }
  return {
    containerId: c.containerId,
    netns: c.netnsPath,
    result: result as unknown as Record<string, unknown>,
    ...addressesOf(result),
    ...(caps?.portMappings ? { portMappings: caps.portMappings } : {}),
    ...(node ? { node } : {}),
  };
}

/**
 * A failed ADD as one clear message: the plugin's own CNI error (code and text) and the last lines it wrote to
 * stderr, and whether the DEL that followed undid it.
 */
function addFailed(list: NetworkConfigList, containerId: string, e: unknown, undone: unknown): unknown {
  if (!(e instanceof CniError)) return e;
  const stderr = e.stderr.trim().split('\n').slice(-3).join(' | ');
  const del =
    undone === undefined
      ? 'the DEL that followed undid what it had made'
      : `the DEL that followed failed too: ${(undone as Error).message}`;
  return new UserError(
    `CNI ADD of ${containerId} to network "${list.name}" failed: ${e.message}${stderr ? ` (plugin stderr: ${stderr})` : ''}; ${del}`,
    {
      hint: e.plugin ? `fix the "${e.plugin}" plugin or its config in ${list.source}` : `fix the network config ${list.source}`,
    },
  );
}
