import { existsSync } from 'node:fs';
import { type AnyResult, CniRuntime, confFromFile, type NetworkConfigList, type Result, type RuntimeConf } from '@cni-demo/cni';
import {
  bridgePorts,
  type Config,
  type Ctx,
  containerIds,
  containerNumber,
  type HostSetupState,
  httpdContainerId,
  linkAlias,
  linkMark,
  loadNetconf,
  nodeMode,
  nodeOfContainer,
  OWNER_ARG,
  ownerMark,
  type PortMapping,
  parsePortMap,
  podAddresses,
  UserError,
} from '@cni-demo/core';

/** The runtime; with `hostNetns` (a node's pin) every plugin runs with that node as its host side. */
export function runtimeFor(ctx: Ctx, pluginDirs: string[], hostNetns?: string): CniRuntime {
  return new CniRuntime({
    pluginDirs,
    cacheDir: ctx.config.cniCacheDir,
    timeoutMs: ctx.config.pluginTimeoutMs,
    ...(hostNetns ? { hostNetns } : {}),
  });
}

/**
 * The network host-setup prepared, read as the runtime reads it (a user's .conf wrapped into a list), and only
 * if it is still the file host-setup looked at: DEL must later run with the config ADD ran with.
 */
export function loadList(host: Pick<HostSetupState, 'confFile' | 'network'>): NetworkConfigList {
  const file = host.confFile;
  if (!existsSync(file)) {
    throw new UserError(`network config ${file} is missing`, {
      hint:
        host.network?.source === 'file'
          ? 'put the file back (down needs it too), or run host-setup again'
          : 'run host-setup first (it writes the network config)',
    });
  }
  const { list, view } = loadNetconf(file, confFromFile);
  if (host.network && host.network.digest !== view.digest) {
    throw new UserError(`network config ${file} changed since host-setup looked at it`, {
      field: 'netconf',
      hint: 'run host-setup up again, so what the host was prepared for is what the plugins get',
    });
  }
  return list as NetworkConfigList;
}

/**
 * Marks the bridges the network's plugin made in this ADD (host-setup recorded them as absent before up), so
 * down removes them and nothing else. A bridge that already carries an alias is someone else's: left alone.
 */
export async function markPluginBridges(ctx: Ctx, host: HostSetupState): Promise<string[]> {
  const marked: string[] = [];
  for (const b of host.pluginBridges ?? []) {
    if (bridgePorts(b) === undefined || (linkAlias(b) ?? '') !== '') continue;
    await ctx.exec('ip', ['link', 'set', 'dev', b, 'alias', linkMark(ctx.config.id)]);
    marked.push(b);
  }
  return marked;
}

export function runtimeConf(
  ctx: Ctx,
  netns: string,
  containerId: string = ctx.names.containerId,
  capabilityArgs?: Record<string, unknown>,
): RuntimeConf {
  // IgnoreUnknown: plugins that parse CNI_ARGS reject keys they do not know without it. The owner mark goes
  // into libcni's cache entry with the args: the attachment says which instance made it (host/ownership.ts)
  return {
    containerId,
    netns,
    ifName: ctx.config.ifname,
    args: [
      ['IgnoreUnknown', '1'],
      [OWNER_ARG, ownerMark(ctx.config)],
    ],
    ...(capabilityArgs ? { capabilityArgs } : {}),
  };
}

/**
 * The capability args of one container: portMappings for the httpd container when --port-map is set; with several
 * nodes, the addresses the container asks for (`ips`: container k of node i takes the k-th address of the node's
 * subnets, so any node can compute any other's).
 */
export function capabilityArgsFor(ctx: Ctx, containerId: string): { portMappings?: PortMapping[]; ips?: string[] } | undefined {
  const c = ctx.config;
  const place = nodePlace(c, containerId);
  if (place) return { ips: podAddresses(c, place.node, place.k).cidrs };
  if (httpdContainerId(c) !== containerId) return undefined;
  const { mappings } = parsePortMap(c.portMap);
  return mappings.length > 0 ? { portMappings: mappings } : undefined;
}

/** Where a container runs with several nodes: its node and its number there; undefined with one node. */
export function nodePlace(c: Config, containerId: string): { node: number; k: number } | undefined {
  const mode = nodeMode(c);
  if (mode === 'netns') {
    const node = nodeOfContainer(c, containerId);
    const k = containerNumber(c, containerId);
    return node && k ? { node, k } : undefined;
  }
  if (mode === 'vm') {
    const k = containerIds(c).indexOf(containerId) + 1;
    return k > 0 ? { node: c.nodeIndex, k } : undefined;
  }
  return undefined;
}

/** Addresses of the result by family, without the prefix length. */
export function addressesOf(result: AnyResult): { ipv4: string | undefined; ipv6: string | undefined } {
  const ips = (result as Result).ips ?? [];
  const strip = (a: string) => a.split('/')[0];
  return {
    ipv4: ips
      .map((i) => i.address)
      .filter((a) => !a.includes(':'))
      .map(strip)[0],
    ipv6: ips
      .map((i) => i.address)
      .filter((a) => a.includes(':'))
      .map(strip)[0],
  };
}
