import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Config } from './config/schema.js';
import { UserError } from './errors.js';
import { interfaceNameProblem, networkNameProblem } from './name-rules.js';
import { networkOf, nthAddress, parseCidr } from './net.js';

/**
 * A network is data: the conflist cni-demo generates from its config is one source, a user's own file
 * (`--netconf`, any form libcni loads) another. Both are described here once, from the file as the plugins
 * will read it, so host-setup knows what to prepare, down and the leak audit what to look for, and verify
 * and the report what the network is, without any step guessing from our own config.
 */

/**
 * A network config list as the CNI runtime (@cni-demo/cni, whose NetworkConfigList has this shape) parsed it:
 * core does not parse CNI files itself (the runtime owns that, and its tests build on core).
 */
export interface ConfList {
  name: string;
  cniVersion: string;
  plugins: { type: string; [key: string]: unknown }[];
  /** the bytes the runtime caches for the network */
  bytes: Uint8Array;
  source: string;
}

/** The runtime's file loader (@cni-demo/cni confFromFile), passed in. */
export type ConfLoader = (file: string) => ConfList;

/** How the first plugin wires the container (after following a `delegate`, as flannel's does). */
export type WiringKind = 'bridge' | 'ptp' | 'macvlan' | 'ipvlan' | 'vlan' | 'host-device' | 'other';

export interface NetworkView {
  /** cni-demo's own conflist, or the user's file */
  source: 'generated' | 'file';
  /** the file the plugins' config is read from (the generated one is written there by host-setup) */
  file: string;
  name: string;
  /** the version the runtime speaks to the plugins (after cniVersions selection) */
  cniVersion: string;
  /** the plugin types in chain order */
  plugins: string[];
  /** every binary the network runs, found in the plugin dirs: its plugins, their IPAM and delegates, once each */
  binaries: string[];
  /** the type of the plugin that wires the container, and its kind */
  mainType: string;
  kind: WiringKind;
  /** the bridge of a bridge network (the plugin's `bridge`, default cni0) */
  bridge?: { name: string; isGateway: boolean };
  /** every bridge a plugin of the network may make (the main one and any other type bridge, delegates too) */
  bridges: string[];
  /** the host link the main plugin hangs the container on: macvlan/ipvlan/vlan `master`, host-device `device` */
  parent?: { field: 'master' | 'device'; name: string };
  /** link types the kernel must be able to make for this network */
  linkKinds: string[];
  /** the IPAM plugin of the main plugin, when it names one */
  ipamType?: string;
  /** every subnet the IPAM hands addresses out of (host-local ranges or subnet, static addresses) */
  ranges: string[];
  /** each range's gateway as "address/prefixlen" (host-local's default: the first address), when known */
  gateways: string[];
  /** host-local's store, where it keeps one lease file per address under <leaseStore>/<name>/ */
  leaseStore?: string;
  /** some plugin takes the portMappings capability (portmap): --port-map goes there */
  portMappings: boolean;
  /** sha256 of the bytes the runtime caches for the network (libcni's config): two instances compare it */
  digest: string;
}

/** host-local's default store (dataDir), as the plugin has it. */
export const HOST_LOCAL_STORE = '/var/lib/cni/networks';

const KINDS: Record<string, WiringKind> = {
  bridge: 'bridge',
  ptp: 'ptp',
  macvlan: 'macvlan',
  ipvlan: 'ipvlan',
  vlan: 'vlan',
  'host-device': 'host-device',
};

/** Link types each plugin makes on this host (what the kernel is probed for). */
const LINK_KINDS: Record<string, string[]> = {
  bridge: ['bridge', 'veth'],
  ptp: ['veth'],
  macvlan: ['macvlan'],
  ipvlan: ['ipvlan'],
  vlan: ['vlan'],
  bandwidth: ['ifb'],
  vrf: ['vrf'],
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A plugin object and the configs it hands on: its `delegate` (flannel's convention), recursively. */
function withDelegates(p: Obj): Obj[] {
  const out = [p];
  const d = p.delegate;
  if (isObj(d) && str(d.type)) out.push(...withDelegates(d));
  return out;
}

interface IpamFacts {
  ranges: string[];
  gateways: string[];
  leaseStore?: string;
}

/** The subnets, gateways and store of an IPAM config, for the plugins whose config format is known. */
function ipamFacts(ipam: Obj): IpamFacts {
  const ranges: string[] = [];
  const gateways: string[] = [];
  const add = (subnet: unknown, gateway: unknown, defaultGateway: boolean) => {
    const p = typeof subnet === 'string' ? parseCidr(subnet) : undefined;
    if (!p) return;
    const net = networkOf(p);
    if (!ranges.includes(net)) ranges.push(net);
    // host-local's own default when a range names no gateway: the first address of the subnet
    const gw = str(gateway) ?? (defaultGateway ? nthAddress(p, 1n) : undefined);
    if (gw && !gateways.includes(`${gw}/${p.bits}`)) gateways.push(`${gw}/${p.bits}`);
  };
  if (ipam.type === 'host-local') {
    if (Array.isArray(ipam.ranges)) {
      for (const set of ipam.ranges) if (Array.isArray(set)) for (const r of set) if (isObj(r)) add(r.subnet, r.gateway, true);
    }
    if (ipam.subnet !== undefined) add(ipam.subnet, ipam.gateway, true);
    return { ranges, gateways, leaseStore: str(ipam.dataDir) ?? HOST_LOCAL_STORE };
  }
  if (ipam.type === 'static' && Array.isArray(ipam.addresses)) {
    for (const a of ipam.addresses) if (isObj(a)) add(a.address, a.gateway, false);
  }
  return { ranges, gateways };
}

/**
 * A name from the file that becomes a link name: held to the same rule as the config's names
 * (name-rules.ts), so that iptables, `ip -batch` and the kernel all take it literally.
 */
function linkName(value: unknown, where: string, source: string): string {
  const name = typeof value === 'string' ? value : '';
  const problem = typeof value === 'string' ? interfaceNameProblem(value) : `${JSON.stringify(value)} is not a string`;
  if (problem) {
    throw new UserError(`netconf: ${source}: "${where}" ${problem}`, {
      field: 'netconf',
      hint: `give "${where}" a Linux interface name (at most 15 bytes of letters, digits, "_", "." and "-")`,
    });
  }
  return name;
}

/** What a network needs and makes, read from its config list (as the plugins will get it). */
export function describeNetwork(list: ConfList, where: { source: NetworkView['source']; file: string }): NetworkView {
  // the network's name becomes file names (the conflist, the CNI cache's entries, the lease folder) and the
  // plugins' iptables comments: the config's rule for --network holds for a name from a file too
  const nameProblem = networkNameProblem(list.name);
  if (nameProblem) {
    const field = where.source === 'file' ? 'netconf' : 'network';
    throw new UserError(`${field === 'netconf' ? `netconf: ${list.source}: "name"` : 'network:'} ${nameProblem}`, {
      field,
      hint: 'give the network a name of letters, digits, "_", "." and "-", at most 64 characters',
    });
  }
  const plugins = list.plugins as Obj[];
  const binaries: string[] = [];
  const bridges: string[] = [];
  const linkKinds: string[] = [];
  const addOnce = (arr: string[], ...v: string[]) => {
    for (const x of v) if (!arr.includes(x)) arr.push(x);
  };
  for (const [i, p] of plugins.entries()) {
    for (const [j, c] of withDelegates(p).entries()) {
      const type = str(c.type) as string;
      addOnce(binaries, type);
      if (isObj(c.ipam) && str(c.ipam.type)) addOnce(binaries, c.ipam.type as string);
      addOnce(linkKinds, ...(LINK_KINDS[type] ?? []));
      if (type === 'bridge') addOnce(bridges, linkName(c.bridge ?? 'cni0', `plugins[${i}]${'.delegate'.repeat(j)}.bridge`, list.source));
    }
  }
  // the plugin that wires the container: the first one, or what it delegates to when its own kind is unknown
  const first = plugins[0] as Obj;
  const main = withDelegates(first).find((c) => KINDS[str(c.type) as string]) ?? first;
  const mainType = str(main.type) as string;
  const kind = KINDS[mainType] ?? 'other';
  const mainPath = main === first ? 'plugins[0]' : 'plugins[0].delegate';
  const ipam = isObj(main.ipam) ? main.ipam : isObj(first.ipam) ? first.ipam : undefined;
  const facts = ipam ? ipamFacts(ipam) : { ranges: [], gateways: [] };
  let parent: NetworkView['parent'];
  if (kind === 'macvlan' || kind === 'ipvlan' || kind === 'vlan') {
    if (main.master !== undefined) parent = { field: 'master', name: linkName(main.master, `${mainPath}.master`, list.source) };
  } else if (kind === 'host-device' && main.device !== undefined) {
    parent = { field: 'device', name: linkName(main.device, `${mainPath}.device`, list.source) };
  }
  return {
    source: where.source,
    file: where.file,
    name: list.name,
    cniVersion: list.cniVersion,
    plugins: plugins.map((p) => p.type as string),
    binaries,
    mainType,
    kind,
    ...(kind === 'bridge' ? { bridge: { name: bridges[0] as string, isGateway: main.isGateway === true } } : {}),
    bridges,
    ...(parent ? { parent } : {}),
    linkKinds,
    ...(ipam && str(ipam.type) ? { ipamType: ipam.type as string } : {}),
    ranges: facts.ranges,
    gateways: facts.gateways,
    ...(facts.leaseStore ? { leaseStore: facts.leaseStore } : {}),
    portMappings: plugins.some((p) => isObj(p.capabilities) && p.capabilities.portMappings === true),
    digest: createHash('sha256').update(list.bytes).digest('hex'),
  };
}

/**
 * The user's network file, loaded as libcni loads one (`.conflist`, or a single-plugin `.conf`/`.json` wrapped
 * into a list) and described. Every problem is a UserError on the field `netconf` naming the file.
 */
export function loadNetconf(file: string, load: ConfLoader): { list: ConfList; view: NetworkView } {
  let list: ConfList;
  try {
    list = load(file);
  } catch (e) {
    // the runtime's errors carry a CNI code; their message already names the file and the field
    if (!(e instanceof Error) || typeof (e as { code?: unknown }).code !== 'number') throw e;
    const msg = e.message.replace(/ \(CNI error code \d+\)$/, '');
    throw new UserError(`netconf: ${msg}`, {
      field: 'netconf',
      hint: /does not exist|is a folder/.test(msg)
        ? `give --netconf an existing network config file${path.isAbsolute(file) ? '' : ' (an absolute path)'}`
        : /missing 'type'|"plugins"/.test(msg)
          ? 'a network config is a .conflist with a "plugins" list, or a single-plugin .conf/.json with a "type"'
          : 'fix the network config file (the CNI spec: https://www.cni.dev/docs/spec/)',
    });
  }
  return { list, view: describeNetwork(list, { source: 'file', file }) };
}

/** Options of the generated network: the firewall plugin before portmap; one node of several (`node`). */
export interface NetConfOptions {
  firewall?: boolean;
  node?: { ipamDataDir: string };
}

/**
 * The walkthrough's network: bridge + host-local with both ranges, gateway on the bridge, masquerade,
 * default routes for both families (and, with --port-map, portmap after bridge; see chainedPlugins).
 *
 * One node of several (`node`): the node's own subnets (the caller passes its config), its own lease store, and
 * two changes. The bridge plugin's ipMasq is off, because it would masquerade traffic to the other nodes' pods
 * too; the nodes step masquerades only what leaves the cluster's pod subnets. And each container asks for its
 * address (capability `ips`), so every node's addresses can be computed anywhere (a VM checks another's).
 */
export function buildNetConf(c: Config, opts: NetConfOptions = {}): Record<string, unknown> {
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet: c.subnet4, gateway: c.gateway4 }], [{ subnet: c.subnet6, gateway: c.gateway6 }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
  };
  const dataDir = opts.node?.ipamDataDir ?? c.ipamDataDir;
  if (dataDir !== HOST_LOCAL_STORE) ipam.dataDir = dataDir;
  const plugins: Record<string, unknown>[] = [
    {
      type: 'bridge',
      bridge: c.bridge,
      isGateway: c.isGateway,
      ipMasq: opts.node ? false : c.ipMasq,
      ...(opts.node ? { capabilities: { ips: true } } : {}),
      ipam,
    },
  ];
  plugins.push(...chainedPlugins(c, opts));
  return { cniVersion: c.cniVersion, name: c.network, plugins };
}

/**
 * The port-mapping variant: portmap after bridge, told the mappings through runtimeConfig (capability
 * portMappings), with snat so the host's own connections to 127.0.0.1:<hostPort> are answered; firewall
 * first when the host's FORWARD policy would drop the bridge's traffic.
 */
export function chainedPlugins(c: Config, opts: { firewall?: boolean } = {}): Record<string, unknown>[] {
  if (c.portMap.trim() === '') return [];
  const out: Record<string, unknown>[] = [];
  if (opts.firewall) out.push({ type: 'firewall', backend: 'iptables' });
  out.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
  return out;
}

/** The generated network's text, as host-setup writes it to <confDir>/10-<network>.conflist. */
export function generatedConfText(c: Config, opts: NetConfOptions = {}): string {
  return `${JSON.stringify(buildNetConf(c, opts), null, 2)}\n`;
}

/** The generated network described (what readers use when no host-setup state says otherwise). */
export function generatedNetwork(c: Config, file: string, opts: NetConfOptions = {}): NetworkView {
  const conf = buildNetConf(c, opts) as { name: string; cniVersion: string; plugins: ConfList['plugins'] };
  const list: ConfList = { ...conf, bytes: Buffer.from(generatedConfText(c, opts)), source: file };
  return describeNetwork(list, { source: 'generated', file });
}

/**
 * The network an instance runs, for every reader: what host-setup recorded (its state), else the user's file
 * (--netconf; it is never removed, so down and the leak audit find it after the state is gone), else the
 * generated one from the config. A --netconf file that cannot be read, with no state to go by, is a UserError.
 */
export function instanceNetwork(config: Config, confFile: string, load: ConfLoader, host?: { network?: NetworkView }): NetworkView {
  if (host?.network) return host.network;
  if (config.netconf !== '') return loadNetconf(config.netconf, load).view;
  return generatedNetwork(config, confFile);
}

/** host-local's lease folder of the network, when its IPAM is host-local. */
export function networkLeaseDir(view: NetworkView): string | undefined {
  return view.leaseStore ? path.join(view.leaseStore, view.name) : undefined;
}
