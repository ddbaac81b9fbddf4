import { readFileSync, statSync } from 'node:fs';
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

/**
 * Does the interface exist inside the netns at `netnsPath`? With the pid of a process in that netns (the
 * container's, checked by the namespace's inode, so a reused pid cannot fool it), the answer comes from
 * /proc/<pid>/net/dev without starting a process; otherwise, or when that process is gone, from nsenter.
 */
export async function linkInNetns(ctx: Ctx, netnsPath: string, ifname: string, pid?: number): Promise<boolean> {
  const viaProc = pid ? linkViaProc(pid, netnsPath, ifname) : undefined;
  if (viaProc !== undefined) return viaProc;
  const r = await ctx.exec('nsenter', [`--net=${netnsPath}`, 'ip', 'link', 'show', 'dev', ifname], { allowFail: true });
  return r.exitCode === 0;
}

function linkViaProc(pid: number, netnsPath: string, ifname: string): boolean | undefined {
  try {
    const ns = statSync(`/proc/${pid}/ns/net`);
    const pin = statSync(netnsPath);
    if (ns.ino !== pin.ino || ns.dev !== pin.dev) return undefined;
    // "  eth0: <counters>": an interface name holds no ':' and no blank
    const dev = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
    return dev.split('\n').some((l) => l.trimStart().startsWith(`${ifname}:`));
  } catch {
    return undefined;
  }
}
