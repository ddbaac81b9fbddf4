import { readFileSync } from 'node:fs';
import { type AnyResult, CniRuntime, confFromBytes, type NetworkConfigList, type Result, type RuntimeConf } from '@cni-demo/cni';
import { type Ctx, httpdContainerId, type PortMapping, parsePortMap, UserError } from '@cni-demo/core';

export function runtimeFor(ctx: Ctx, pluginDirs: string[]): CniRuntime {
  return new CniRuntime({ pluginDirs, cacheDir: ctx.config.cniCacheDir, timeoutMs: ctx.config.pluginTimeoutMs });
}

export function loadList(confFile: string): NetworkConfigList {
  let bytes: Buffer;
  try {
    bytes = readFileSync(confFile);
  } catch {
    throw new UserError(`network config ${confFile} is missing`, { hint: 'run host-setup first (it writes the network config)' });
  }
  return confFromBytes(bytes, confFile);
}

export function runtimeConf(
  ctx: Ctx,
  netns: string,
  containerId: string = ctx.names.containerId,
  capabilityArgs?: Record<string, unknown>,
): RuntimeConf {
  // IgnoreUnknown: plugins that parse CNI_ARGS reject keys they do not know without it
  return {
    containerId,
    netns,
    ifName: ctx.config.ifname,
    args: [['IgnoreUnknown', '1']],
    ...(capabilityArgs ? { capabilityArgs } : {}),
  };
}

/** The capability args of one container: portMappings for the httpd container when --port-map is set. */
export function capabilityArgsFor(ctx: Ctx, containerId: string): { portMappings: PortMapping[] } | undefined {
  if (httpdContainerId(ctx.config) !== containerId) return undefined;
  const { mappings } = parsePortMap(ctx.config.portMap);
  return mappings.length > 0 ? { portMappings: mappings } : undefined;
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
