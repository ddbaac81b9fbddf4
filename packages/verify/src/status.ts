import { existsSync } from 'node:fs';
import path from 'node:path';
import { confFromFile } from '@cni-demo/cni';
import {
  type Config,
  type Ctx,
  containerIds,
  createContext,
  createLogger,
  describeError,
  EXIT_USAGE,
  type HostSetupState,
  helpText,
  instanceNetwork,
  type Lease,
  type NetworkView,
  ownerOf,
  printable,
  nodeList,
  nodeNames,
  readLeases,
  requireRoot,
  resolveConfig,
  runcState,
  STEPS,
  scriptArgv,
} from '@cni-demo/core';
import { networkHostLinks } from './report.js';
import { type PortMapping, readTopology } from './topology.js';

/**
 * What exists now for an instance, read from the host (runc, the pins, ip inside each netns, the lease
 * store, iptables), not from the state files: those only say which steps ran, and are listed as such.
 */
export interface ContainerStatus {
  id: string;
  /** runc's status (running, created, stopped) or undefined when runc does not know the id */
  runc: string | undefined;
  pid: number | undefined;
  pin: string;
  pinned: boolean;
  interfaces: { name: string; addrs: string[] }[];
  /** the host end of its veth pair, found by ifindex */
  hostVeth: string | undefined;
}

export interface Status {
  instance: {
    id: string;
    network: string;
    /** the generated network, or the user's file (--netconf); unknown when that file is gone and no state names it */
    source: 'generated' | 'file' | 'unknown';
    file: string;
    plugins: string[];
    runDir: string;
  };
  /** the state files present, by step: which steps have run (and not been undone) */
  stateFiles: string[];
  /** the network's bridge (name "" for a network without one) */
  bridge: { name: string; exists: boolean; up: boolean; addrs: string[] };
  /** the network's other links on the host (ptp's veth ends, a macvlan master), with their addresses */
  hostLinks: { name: string; kind: string | undefined; addrs: string[] }[];
  containers: ContainerStatus[];
  leases: Lease[];
  mappings: PortMapping[];
  /** several nodes on this machine: the underlay bridge and each node as read inside it */
  underlay?: { bridge: string; exists: boolean; ports: string[] };
  nodes?: NodeStatus[];
}

export interface NodeStatus {
  index: number;
  name: string;
  pin: string;
  /** the node's end of the underlay and its pod bridge, with their addresses */
  underlay: string[];
  bridge: string[];
  /** its routes to the other nodes' pod subnets */
  routes: string[];
}

export async function readStatus(ctx: Ctx): Promise<Status> {
  const c: Config = ctx.config;
  let host: HostSetupState | undefined;
  try {
    host = ctx.state.read<HostSetupState>('host-setup');
  } catch {
    /* corrupt: the network is read from the config below */
  }
  let view: NetworkView | undefined;
  try {
    view = instanceNetwork(c, ctx.names.confFile, confFromFile, host);
  } catch {
    /* a --netconf file that is gone, with no state: shown as unknown */
  }
  const bridgeName = view ? (view.bridge?.name ?? '') : c.bridge;
  const topo = await readTopology(ctx.exec, c, bridgeName, {
    hostLinks: host ? networkHostLinks(host) : view?.parent ? [view.parent.name] : [],
  });
  const containers: ContainerStatus[] = [];
  for (const id of containerIds(c)) {
    const st = await runcState(ctx.exec, c.runcRoot, id, c.rootless ? ownerOf(c.runcRoot) : undefined);
    const runc = st?.status;
    const pid = st?.pid || undefined;
    const ns = topo.containers.find((n) => n.containerId === id);
    const pin = path.join(c.netnsDir, id);
    containers.push({
      id,
      runc,
      pid,
      pin,
      pinned: existsSync(pin),
      interfaces: (ns?.interfaces ?? []).filter((i) => i.name !== 'lo').map((i) => ({ name: i.name, addrs: i.addrs })),
      hostVeth: topo.veths.find((v) => v.containerId === id)?.hostIf,
    });
  }
  const nodes = topo.nodes?.map((n) => ({
    index: n.index,
    name: n.name,
    pin: n.pin,
    underlay: n.underlay?.addrs.filter((a) => !a.startsWith('fe80::') || a.split('/')[0] === nodeNames(c, n.index).underlay6) ?? [],
    bridge: n.bridge?.addrs.filter((a) => !a.startsWith('fe80')) ?? [],
    routes: n.routes.filter((r) => r.gateway && r.dst !== 'default').map((r) => `${r.dst} via ${r.gateway}`),
  }));
  // each node keeps its own lease store
  const leases = nodes ? nodeList(c).flatMap((n) => readLeases(n.ipamDataDir, c.network)) : readLeases(c.ipamDataDir, c.network);
  return {
    instance: {
      id: c.id,
      network: view?.name ?? c.network,
      source: view?.source ?? 'unknown',
      file: view?.file ?? c.netconf,
      plugins: view?.plugins ?? [],
      runDir: ctx.names.runDir,
    },
    stateFiles: STEPS.filter((s) => ctx.state.has(s)),
    bridge: { name: bridgeName, exists: Boolean(topo.bridge), up: topo.bridge?.up ?? false, addrs: topo.bridge?.addrs ?? [] },
    hostLinks: topo.ports
      .filter((p) => !topo.bridge || p.master !== topo.bridge.name)
      .map((p) => ({ name: p.name, kind: p.kind, addrs: p.addrs })),
    containers,
    leases,
    mappings: topo.mappings,
    ...(topo.underlay && nodes
      ? {
          underlay: { bridge: c.underlayBridge, exists: Boolean(topo.underlay.bridge), ports: topo.underlay.ports.map((p) => p.name) },
          nodes,
        }
      : {}),
  };
}

function table(head: string[], rows: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((x, i) => (i === r.length - 1 ? x : x.padEnd(w[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(head), fmt(w.map((n) => '-'.repeat(n))), ...rows.map(fmt)];
}

export function formatStatus(s: Status): string {
  const b = s.bridge;
  const from =
    s.instance.source === 'file'
      ? ` (${s.instance.plugins.join(' → ')}, from ${s.instance.file})`
      : s.instance.source === 'unknown'
        ? ` (unknown: ${s.instance.file || 'its file'} cannot be read and no state names it)`
        : '';
  // several nodes: the underlay and a table of the nodes instead of the host's bridge
  const nodeLines = s.nodes
    ? [
        `underlay bridge ${s.underlay?.bridge}: ${s.underlay?.exists ? `ports ${s.underlay.ports.join(', ') || 'none'}` : 'absent'}`,
        '',
        ...table(
          ['node', 'netns pin', 'underlay', 'bridge', 'routes to the other nodes'],
          s.nodes.map((n) => [
            `${n.index} ${n.name}`,
            n.pin,
            n.underlay.join(' ') || '-',
            n.bridge.join(' ') || '-',
            n.routes.join('; ') || '-',
          ]),
        ),
      ]
    : [
        b.name
          ? `bridge ${b.name}: ${b.exists ? `${b.up ? 'up' : 'DOWN'} ${b.addrs.join(', ')}` : 'absent'}`
          : 'bridge: none (the network has no bridge)',
      ];
  const lines = [
    `instance ${s.instance.id}  network ${s.instance.network}${from}  state ${s.stateFiles.length ? s.stateFiles.join(', ') : 'none'}`,
    ...nodeLines,
    ...s.hostLinks.map((l) => `host link ${l.name}${l.kind ? ` (${l.kind})` : ''}: ${l.addrs.join(', ') || 'no address'}`),
    '',
    ...table(
      ['container', 'runc', 'pid', 'netns pin', 'host veth', 'addresses'],
      s.containers.map((c) => [
        c.id,
        c.runc ?? 'absent',
        c.pid ? String(c.pid) : '-',
        c.pinned ? c.pin : 'absent',
        c.hostVeth ?? '-',
        c.interfaces.map((i) => `${i.name} ${i.addrs.join(' ')}`).join('; ') || '-',
      ]),
    ),
    '',
    ...(s.leases.length
      ? table(
          ['lease', 'container', 'ifname'],
          s.leases.map((l) => [l.address, l.containerId, l.ifname ?? '-']),
        )
      : ['leases: none']),
    '',
    ...(s.mappings.length
      ? table(
          ['host', 'proto', 'container', 'chain'],
          s.mappings.map((m) => [`${m.hostIp ?? '*'}:${m.hostPort}`, m.protocol, `${m.containerIp}:${m.containerPort}`, m.chain]),
        )
      : ['port mappings: none']),
  ];
  // names and addresses read from the host, the lease files and a user's network file: shown, never acted on by the terminal
  return `${printable(lines.join('\n'), { keepNewlines: true })}\n`;
}

/**
 * The `status` command: a table for people, or with --json one JSON document on stdout. Not a pipeline
 * step: it changes nothing, records no timing and exits 0 whatever it finds.
 */
export async function statusMain(argv: readonly string[] = scriptArgv()): Promise<number> {
  const log0 = createLogger();
  let config: Config;
  try {
    const r = resolveConfig({ argv });
    if (r.args.help) {
      process.stdout.write(`usage: status [options]  (--json for machines)\n${helpText()}\n`);
      return 0;
    }
    config = r.config;
  } catch (e) {
    // the command line or the config is wrong: a usage error
    log0.error(describeError(e));
    process.exitCode = EXIT_USAGE;
    return EXIT_USAGE;
  }
  try {
    requireRoot('status');
    const ctx = createContext(config);
    const s = await readStatus(ctx);
    process.stdout.write(config.json ? `${printable(JSON.stringify(s, null, 2), { keepNewlines: true })}\n` : formatStatus(s));
    return 0;
  } catch (e) {
    log0.error(describeError(e));
    process.exitCode = 1;
    return 1;
  }
}
