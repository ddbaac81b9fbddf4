import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { cacheResultsDir } from '@cni-demo/cni';
import {
  type Ctx,
  faultPoint,
  getLink,
  type HostSetupState,
  isMarkedLink,
  isMarkedNode,
  isMountPoint,
  linkExists,
  linkWithAddress,
  listRoutes,
  missingDirs,
  type NodeNames,
  type NodesState,
  nodeConfig,
  nodeList,
  nodeRoutes,
  parseCidr,
  prefixesOverlap,
  readLinks,
  readNode,
  type RouteInfo,
  routesPresent,
  UserError,
  UserErrors,
  underlayAddress,
  writeFileAtomic,
} from '@cni-demo/core';
import { routeClashes } from './bridge.js';
import { handleForwardPolicy } from './forward.js';
import { buildNetConf } from './netconf.js';
import type { PreflightResult } from './preflight.js';

/**
 * host-setup with several nodes on this machine (netns mode): it checks the host for everything the nodes step
 * will make (refusing before anything changes), and writes each node's network config into the node's own folder.
 * The nodes themselves (namespaces, underlay, bridges, routes) are the nodes step's; no bridge goes on the host.
 */
export async function upNodes(ctx: Ctx, found: PreflightResult, policies: Promise<(string | undefined)[]>): Promise<HostSetupState> {
  const c = ctx.config;
  const previous = ctx.state.read<HostSetupState>('host-setup');
  const nodes = nodeList(c);
  const problems = await nodeProblems(ctx, nodes);
  if (problems.length === 1 && problems[0]) throw problems[0];
  if (problems.length > 1) throw new UserErrors(problems, 'host-setup refused to make the nodes');

  const createdDirs = new Set(previous?.createdDirs ?? []);
  for (const d of [cacheResultsDir(c.cniCacheDir), c.netnsDir]) for (const m of missingDirs(d)) createdDirs.add(m);
  const first = nodes[0] as NodeNames;
  const state: HostSetupState = {
    bridge: c.bridge,
    // no bridge on the host: each node makes its own, inside it
    createdBridge: false,
    addrs: [],
    subnet4: c.subnet4,
    subnet6: c.subnet6,
    gateway4: c.gateway4,
    gateway6: c.gateway6,
    pluginDirs: found.pluginDirs,
    confFile: first.confFile,
    wroteConf: true,
    // forwarding is turned on inside the nodes only: the host's sysctls are not touched, so none to restore
    sysctls: {},
    tools: found.tools,
    createdDirs: [...createdDirs],
    chainedPlugins: [],
    nodes: nodes.map((n) => ({ index: n.index, name: n.name, confFile: n.confFile, ipamDataDir: n.ipamDataDir })),
  };
  ctx.state.write('host-setup', state);
  faultPoint('host-setup:after-state');

  // the nodes' traffic crosses the underlay bridge on the host: a FORWARD policy of DROP applies to it there
  await handleForwardPolicy(ctx, policies, c.underlayBridge);
  for (const n of nodes) {
    const text = `${JSON.stringify(buildNetConf(nodeConfig(c, n.index), { node: { ipamDataDir: n.ipamDataDir } }), null, 2)}\n`;
    mkdirSync(path.dirname(n.confFile), { recursive: true, mode: 0o700 });
    writeFileAtomic(n.confFile, text, 0o600);
    if (n.index === 1) faultPoint('host-setup:after-node-conf');
  }
  ctx.log.info(`${nodes.length} nodes: network configs in ${path.join(ctx.names.runDir, 'nodes')}/<node>/net.d`);
  return state;
}

/**
 * Everything the nodes would collide with, found at once: a node's pod subnets or the underlay overlapping a
 * host route; the underlay bridge's name, a node's veth or its netns pin held by something this instance did not
 * make.
 */
async function nodeProblems(ctx: Ctx, nodes: NodeNames[]): Promise<UserError[]> {
  const c = ctx.config;
  const [routes, underlay, views] = await Promise.all([
    listRoutes(ctx.exec),
    getLink(ctx.exec, c.underlayBridge),
    Promise.all(nodes.map(async (n) => (existsSync(n.pin) ? { n, view: await readNode(ctx.exec, n.pin) } : undefined))),
  ]);
  const problems: UserError[] = [];
  const clash = (cidr: string) => {
    const ours = parseCidr(cidr);
    return ours ? routes.find((r) => routeClashes(r, ours, [c.underlayBridge])) : undefined;
  };
  const u = clash(c.underlaySubnet);
  if (u) {
    problems.push(
      new UserError(`underlay subnet ${c.underlaySubnet} overlaps the host route ${u.dst}${u.dev ? ` on ${u.dev}` : ''}`, {
        field: 'underlaySubnet',
        hint: 'choose a free subnet with --underlay-subnet',
      }),
    );
  }
  for (const n of nodes) {
    for (const [family, subnet] of [
      [4, n.subnet4],
      [6, n.subnet6],
    ] as const) {
      const r = clash(subnet);
      if (!r) continue;
      problems.push(
        new UserError(`node ${n.index}'s subnet ${subnet} overlaps the host route ${r.dst}${r.dev ? ` on ${r.dev}` : ''}`, {
          field: `subnet${family}`,
          hint: `node i's subnets are --subnet${family} moved up by i-1 times its size: choose a --subnet${family} (and --gateway${family}) with ${nodes.length} free subnets above it`,
        }),
      );
    }
  }
  if (underlay && !(underlay.kind === 'bridge' && isMarkedLink(c.underlayBridge, c.id))) {
    problems.push(
      new UserError(`a ${underlay.kind ?? 'link'} named "${c.underlayBridge}" already exists and was not made by this instance`, {
        field: 'underlayBridge',
        hint: 'choose another name with --underlay-bridge, or remove that link if it is not needed',
      }),
    );
  }
  // what an earlier run of this instance meant to make (its state says so) may be unmarked still: killed midway
  const previous = ctx.state.read<NodesState>('nodes');
  const meantVeths = new Set((previous?.nodes ?? []).map((n) => n.hostVeth));
  for (const n of nodes) {
    if (linkExists(n.hostVeth) && !isMarkedLink(n.hostVeth, c.id) && !meantVeths.has(n.hostVeth)) {
      problems.push(
        new UserError(`a link named "${n.hostVeth}" (node ${n.index}'s underlay veth) already exists and was not made by this instance`, {
          field: 'underlayBridge',
          hint: 'choose another --underlay-bridge (the veths are named <underlayBridge>-<i>), or remove that link',
        }),
      );
    }
  }
  const meant = new Set((previous?.nodes ?? []).map((n) => n.pin));
  for (const v of views) {
    if (v && isMountPoint(v.n.pin) && !isMarkedNode(v.view, c.id) && !meant.has(v.n.pin)) {
      problems.push(
        new UserError(`${v.n.pin} (node ${v.n.index}'s namespace) is pinned already, by something other than this instance`, {
          field: 'id',
          hint: 'choose another --id (nodes are named <id>-n<i>) or --netns-dir',
        }),
      );
    }
  }
  return problems;
}

/**
 * A VM as node i of several: its own underlay address must be on one of its interfaces (the private network
 * the VMs share), and no other node's pod subnet may overlap a route it has, other than the routes to them
 * that the nodes step itself adds.
 */
export async function vmProblems(ctx: Ctx): Promise<UserError[]> {
  const c = ctx.config;
  const i = c.nodeIndex;
  const [links, routes] = await Promise.all([readLinks(ctx.exec, { args: ['addr', 'show'] }), listRoutes(ctx.exec)]);
  const problems: UserError[] = [];
  const mine = underlayAddress(c, i);
  if (!linkWithAddress(links, mine)) {
    problems.push(
      new UserError(`node ${i}'s underlay address ${mine} is on no interface of this machine`, {
        field: 'underlaySubnet',
        hint: `give this machine ${mine} on the network the nodes share (node i has host number 10+i of --underlay-subnet ${c.underlaySubnet}), or fix --node-index`,
      }),
    );
  }
  const ownRoutes = nodeRoutes(c, i);
  const ours = (r: RouteInfo) => routesPresent([r], ownRoutes).length > 0;
  for (const route of ownRoutes) {
    const want = parseCidr(route.dst);
    const hit = want && routes.find((r) => !ours(r) && r.dst !== 'default' && overlaps(r, want));
    if (hit) {
      problems.push(
        new UserError(
          `node ${route.node}'s subnet ${route.dst} overlaps the route ${hit.dst}${hit.dev ? ` on ${hit.dev}` : ''} of this machine`,
          {
            field: `subnet${route.family}`,
            hint: `choose a --subnet${route.family} whose ${c.nodes} node subnets are free on every node`,
          },
        ),
      );
    }
  }
  return problems;
}

function overlaps(r: RouteInfo, want: NonNullable<ReturnType<typeof parseCidr>>): boolean {
  if (r.type && r.type !== 'unicast') return false;
  const theirs = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/${r.family === 4 ? 32 : 128}`);
  return Boolean(theirs && prefixesOverlap(theirs, want));
}
