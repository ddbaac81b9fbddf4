import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Config, containerIds, type Exec, mapLimit } from '@cni-demo/core';

/**
 * What was wired, read back from the kernel (ip -j on the host and inside each pinned netns, iptables-save
 * for port mappings), never from the config or the CNI result: the picture shows what exists, so a plugin
 * that did something unexpected shows up in it.
 */
export interface Iface {
  name: string;
  ifindex: number;
  kind: string | undefined;
  mac: string | undefined;
  up: boolean;
  mtu: number | undefined;
  master: string | undefined;
  /** "addr/len", global and link scope alike (link-local IPv6 is how the walkthrough's eth0 looks too) */
  addrs: string[];
  /** for a veth: the peer's ifindex (in the netns named by peerNetnsId when that is set) */
  peerIfindex: number | undefined;
  peerNetnsId: number | undefined;
}

export interface Route {
  family: 4 | 6;
  dst: string;
  gateway: string | undefined;
  dev: string | undefined;
  scope: string | undefined;
  protocol: string | undefined;
}

export interface NetnsView {
  containerId: string;
  /** the bind-mounted pin the view was read through */
  pin: string;
  interfaces: Iface[];
  routes: Route[];
}

export interface PortMapping {
  protocol: string;
  /** the host address the mapping is bound to; undefined means every address */
  hostIp: string | undefined;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  /** the per-container DNAT chain (CNI-DN-…) */
  chain: string;
  containerId: string | undefined;
}

export interface VethPair {
  containerId: string;
  hostIf: string;
  containerIf: string;
}

export interface Topology {
  readAt: string;
  bridge: Iface | undefined;
  /** links enslaved to the bridge (the host ends of the veth pairs) */
  ports: Iface[];
  /** host routes through the bridge */
  hostRoutes: Route[];
  containers: NetnsView[];
  veths: VethPair[];
  mappings: PortMapping[];
}

interface IpAddrJson {
  ifname: string;
  ifindex: number;
  link_index?: number;
  link_netnsid?: number;
  address?: string;
  mtu?: number;
  master?: string;
  flags?: string[];
  operstate?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** Parses `ip -j -d addr show` output. */
export function parseIpAddrJson(text: string): Iface[] {
  return (JSON.parse(text || '[]') as IpAddrJson[]).map((j) => ({
    name: j.ifname,
    ifindex: j.ifindex,
    kind: j.linkinfo?.info_kind,
    mac: j.address,
    up: (j.flags ?? []).includes('UP'),
    mtu: j.mtu,
    master: j.master,
    addrs: (j.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
    peerIfindex: j.link_index,
    peerNetnsId: j.link_netnsid,
  }));
}

/** Parses `ip -j -4|-6 route show` output. */
export function parseRoutesJson(text: string, family: 4 | 6): Route[] {
  return (JSON.parse(text || '[]') as Record<string, string>[]).map((r) => ({
    family,
    dst: r.dst ?? '',
    gateway: r.gateway,
    dev: r.dev,
    scope: r.scope,
    protocol: r.protocol,
  }));
}

/**
 * The portmap plugin's DNAT rules from `iptables-save -t nat`: CNI-HOSTPORT-DNAT jumps to one CNI-DN-<hash>
 * chain per container (its comment names the container id), and that chain holds one DNAT rule per mapping.
 */
export function parsePortMappings(save: string): PortMapping[] {
  const ownerOf = new Map<string, string>();
  const out: PortMapping[] = [];
  for (const line of save.split('\n')) {
    const jump = /^-A CNI-HOSTPORT-DNAT .*-j (CNI-DN-[0-9a-f]+)/.exec(line);
    if (jump?.[1]) {
      const id = /id: \\?"([^"\\]+)\\?"/.exec(line)?.[1];
      if (id) ownerOf.set(jump[1], id);
      continue;
    }
    const m = /^-A (CNI-DN-[0-9a-f]+) (.*)-j DNAT --to-destination (\S+)/.exec(line);
    if (!m?.[1] || !m[2] || !m[3]) continue;
    const rule = m[2];
    const dest = /^\[([^\]]+)\]:(\d+)$/.exec(m[3]) ?? /^([^:]+):(\d+)$/.exec(m[3]);
    const dport = /--dport (\d+)/.exec(rule)?.[1];
    if (!dest?.[1] || !dest[2] || !dport) continue;
    const hostIp = /(?:^| )-d (\S+?)(?:\/(?:32|128))?(?: |$)/.exec(rule)?.[1];
    out.push({
      protocol: /(?:^| )-p (\S+)/.exec(rule)?.[1] ?? 'tcp',
      hostIp,
      hostPort: Number(dport),
      containerIp: dest[1],
      containerPort: Number(dest[2]),
      chain: m[1],
      containerId: undefined,
    });
  }
  for (const p of out) p.containerId = ownerOf.get(p.chain);
  return out;
}

async function ipJson(exec: Exec, netnsPin: string | undefined, args: string[]): Promise<string> {
  // nsenter rather than `ip -n`: the pin lives wherever --netns-dir says, not only under /var/run/netns
  const r = netnsPin
    ? await exec('nsenter', [`--net=${netnsPin}`, 'ip', ...args], { allowFail: true })
    : await exec('ip', args, { allowFail: true });
  return r.exitCode === 0 ? r.stdout : '[]';
}

async function routes(exec: Exec, pin: string | undefined, extra: string[]): Promise<Route[]> {
  const [v4, v6] = await Promise.all([
    ipJson(exec, pin, ['-4', '-j', 'route', 'show', ...extra]),
    ipJson(exec, pin, ['-6', '-j', 'route', 'show', ...extra]),
  ]);
  return [...parseRoutesJson(v4, 4), ...parseRoutesJson(v6, 6)];
}

/**
 * Reads the instance's network as it exists now. Missing pieces (no bridge, no pin) are simply absent.
 * Every read is independent of the others, so they run at once (at most 8 netns at a time).
 */
export async function readTopology(
  exec: Exec,
  config: Config,
  bridgeName = config.bridge,
  opts: { portMappings?: boolean } = {},
): Promise<Topology> {
  const ids = containerIds(config);
  const pins = ids.map((id) => ({ id, pin: path.join(config.netnsDir, id) })).filter((c) => existsSync(c.pin));
  const [hostText, hostRoutesRaw, containers, nat] = await Promise.all([
    ipJson(exec, undefined, ['-j', '-d', 'addr', 'show']),
    // `ip route show dev X` fails when X is gone: then there are no routes to show
    routes(exec, undefined, ['dev', bridgeName]),
    mapLimit(pins, 8, async ({ id, pin }) => {
      const [addrs, r] = await Promise.all([ipJson(exec, pin, ['-j', '-d', 'addr', 'show']), routes(exec, pin, [])]);
      return { containerId: id, pin, interfaces: parseIpAddrJson(addrs), routes: r } satisfies NetnsView;
    }),
    // portmap's DNAT rules; skipped when the caller knows no portmap plugin is in the network
    opts.portMappings === false
      ? Promise.resolve([])
      : Promise.all(['iptables-save', 'ip6tables-save'].map((tool) => exec(tool, ['-t', 'nat'], { allowFail: true }))),
  ]);
  const hostLinks = parseIpAddrJson(hostText);
  const bridge = hostLinks.find((l) => l.name === bridgeName);
  const ports = bridge ? hostLinks.filter((l) => l.master === bridgeName) : [];
  // `ip route show dev X` leaves dev out of each entry: it is the filter
  const hostRoutes = bridge ? hostRoutesRaw.map((r) => ({ ...r, dev: r.dev ?? bridgeName })) : [];

  const veths: VethPair[] = [];
  for (const c of containers) {
    for (const i of c.interfaces) {
      // a veth's link_index names its peer's ifindex in the other namespace
      const hostEnd = i.kind === 'veth' ? ports.find((p) => p.ifindex === i.peerIfindex && p.peerIfindex === i.ifindex) : undefined;
      if (hostEnd) veths.push({ containerId: c.containerId, hostIf: hostEnd.name, containerIf: i.name });
    }
  }

  const mappings: PortMapping[] = [];
  const ours = new Set(containers.flatMap((c) => c.interfaces.flatMap((i) => i.addrs.map((a) => a.split('/')[0]))));
  const idSet = new Set(ids);
  for (const r of nat) {
    if (r.exitCode !== 0) continue;
    for (const m of parsePortMappings(r.stdout)) {
      if ((m.containerId && idSet.has(m.containerId)) || ours.has(m.containerIp)) mappings.push(m);
    }
  }
  return { readAt: new Date().toISOString(), bridge, ports, hostRoutes, containers, veths, mappings };
}

/** Every interface name the topology holds, host side and inside each netns. */
export function interfaceNames(t: Topology): string[] {
  return [
    ...(t.bridge ? [t.bridge.name] : []),
    ...t.ports.map((p) => p.name),
    ...t.containers.flatMap((c) => c.interfaces.map((i) => i.name)),
  ];
}
