import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cacheResultsDir } from '@cni-demo/cni';
import {
  type Ctx,
  faultPoint,
  FORWARDING_SYSCTLS,
  forwardPolicies,
  generatedConfText,
  generatedNetwork,
  type HostSetupState,
  instanceRecord,
  isMarkedLink,
  joinHostRecord,
  linkExists,
  linkMark,
  listRoutes,
  localConfig,
  missingDirs,
  ownershipProblems,
  type NetworkView,
  networkLeaseDir,
  nodeMode,
  readSysctl,
  requireRoot,
  rootlessUser,
  sharedChainsWith,
  sha256,
  UserError,
  UserErrors,
  writeFileAtomic,
} from '@cni-demo/core';
import { hostPortProblems } from './ports.js';
import { configBridge, ensureBridge, overlapProblems, planBridge } from './bridge.js';
import { handleForwardPolicy } from './forward.js';
import { ensureMasterVeth, handMadeBridge, networkNameProblems, planParent } from './network.js';
import { upNodes, vmProblems } from './nodes.js';
import { type PreflightResult, preflight } from './preflight.js';

export async function up(ctx: Ctx, stages: { preflight?: unknown } = {}): Promise<HostSetupState> {
  requireRoot('host-setup');
  const found = (stages.preflight as PreflightResult | undefined) ?? (await preflight(ctx));
  // read once, now: the port-map checks and the FORWARD handling after the bridge is made both use it (the
  // policy does not depend on anything host-setup changes)
  const policies = forwardPolicies(ctx.exec);
  policies.catch(() => undefined);
  const mode = nodeMode(ctx.config);
  // several nodes here: no bridge on the host, and forwarding only inside the nodes (no host record to join)
  if (mode === 'netns') return upNodes(ctx, found, policies);
  // a VM as one node of several: this machine's bridge gets the node's own subnets (everything else as today)
  return upHost(mode === 'vm' ? { ...ctx, config: localConfig(ctx.config) } : ctx, found, policies, mode === 'vm' ? vmProblems(ctx) : []);
}

/** The generated network's options: a VM as one node of several writes a node's network (see buildNetConf). */
const netOpts = (c: Ctx['config'], firewall: boolean) => ({
  firewall,
  ...(nodeMode(c) === 'vm' ? { node: { ipamDataDir: c.ipamDataDir } } : {}),
});

async function upHost(
  ctx: Ctx,
  found: PreflightResult,
  policies: Promise<(string | undefined)[]>,
  moreProblems: Promise<UserError[]> | UserError[],
): Promise<HostSetupState> {
  const c = ctx.config;
  const previous = ctx.state.read<HostSetupState>('host-setup');
  // the host record outlives the run folder: with the state lost, it still knows what an earlier up made
  const recorded = instanceRecord(ctx.names.runDir, { warn: (m) => ctx.log.warn(m) });
  const firewall = await wantFirewall(ctx, policies);
  const confFile = found.network ? found.network.file : ctx.names.confFile;
  const view = found.network ?? generatedNetwork(c, confFile, netOpts(c, firewall));
  sameNetworkAsBefore(ctx, previous, view);
  // the bridge host-setup makes: the generated network's, or the walkthrough's hand-made one a user's file calls for
  const spec = view.source === 'generated' ? configBridge(ctx) : handMadeBridge(view);
  const ours =
    previous?.createdBridge === true || recorded?.createdBridge === true || (spec !== undefined && isMarkedLink(spec.name, c.id));
  const parent = view.source === 'file' ? planParent(ctx, view) : { problems: [] };
  // independent looks at the host, made at once; nothing changes before all of them passed. The names this
  // instance's containers will take must not be another's (runc-bundle checks again before it makes them)
  const [portProblems, planned, overlaps, more, owners] = await Promise.all([
    portMapPreflight(ctx, found.pluginDirs, policies, view),
    spec
      ? planBridge(ctx, { ours, spec }).then(
          (p) => ({ p }),
          (e: unknown) => ({ e }),
        )
      : Promise.resolve(undefined),
    // a bridge the plugin makes, or no bridge: the subnets are checked against the host's routes all the same
    spec
      ? Promise.resolve([])
      : listRoutes(ctx.exec).then((routes) => overlapProblems(routes, view.ranges, ownLinks(ctx, view, parent.masterVeth), view.file)),
    moreProblems,
    ownershipProblems(ctx.exec, c, c.rootless ? rootlessUser(c) : undefined),
  ]);
  const problems = [...parent.problems, ...networkNameProblems(ctx, view), ...overlaps, ...portProblems, ...more, ...owners.problems];
  if (planned && 'e' in planned) {
    if (!(planned.e instanceof UserError) || problems.length === 0) throw planned.e;
    throw new UserErrors([planned.e, ...problems], 'host-setup refused to change the host');
  }
  if (problems.length === 1 && problems[0]) throw problems[0];
  if (problems.length > 1) throw new UserErrors(problems, 'host-setup refused to change the host');
  const plan = planned?.p;

  const confText = view.source === 'generated' ? generatedConfText(c, netOpts(c, firewall)) : undefined;
  const confExisted = existsSync(confFile);
  // a user's file is never ours to write or remove
  const wroteConf = confText !== undefined && (previous?.wroteConf ?? (recorded ? recorded.conf !== undefined : !confExisted));
  if (confText !== undefined && confExisted && readFileSync(confFile, 'utf8') !== confText && !wroteConf) {
    throw new UserError(`${confFile} already exists with a different network config for "${c.network}"`, {
      hint: `remove it if it is stale, or choose another network name with --network`,
    });
  }

  // what the demo will add to the filesystem, known before anything is added, so down can take it away
  const createdDirs = new Set([...(previous?.createdDirs ?? []), ...(recorded?.createdDirs ?? [])]);
  const leases = networkLeaseDir(view);
  for (const d of [
    ...(confText !== undefined ? [c.confDir] : []),
    cacheResultsDir(c.cniCacheDir),
    ...(leases ? [leases] : []),
    c.netnsDir,
  ]) {
    for (const m of missingDirs(d)) createdDirs.add(m);
  }

  const sysctls: Record<string, string> = previous?.sysctls ?? {};
  for (const key of FORWARDING_SYSCTLS) sysctls[key] ??= readSysctl(key) ?? '';

  const first = (family: 4 | 6, list: string[]) => list.find((x) => x.includes(':') === (family === 6));
  // record the intent before changing anything, so a crash in the middle still leaves down a map
  const state: HostSetupState = {
    bridge: spec?.name ?? view.bridge?.name ?? '',
    createdBridge: spec ? (previous?.createdBridge ?? recorded?.createdBridge ?? (!plan?.existing || ours)) : false,
    addrs: plan?.addrs ?? [],
    subnet4: view.source === 'generated' ? c.subnet4 : (first(4, view.ranges) ?? ''),
    subnet6: view.source === 'generated' ? c.subnet6 : (first(6, view.ranges) ?? ''),
    gateway4: view.source === 'generated' ? c.gateway4 : (first(4, view.gateways)?.split('/')[0] ?? ''),
    gateway6: view.source === 'generated' ? c.gateway6 : (first(6, view.gateways)?.split('/')[0] ?? ''),
    pluginDirs: found.pluginDirs,
    confFile,
    wroteConf,
    sysctls,
    tools: found.tools,
    createdDirs: [...createdDirs],
    chainedPlugins: view.plugins.slice(1),
    network: view,
    // a bridge the plugin will make: recorded as absent now, so the one its ADD makes is marked and removed by down
    ...(spec || view.source === 'generated'
      ? {}
      : { pluginBridges: view.bridges.filter((b) => previous?.pluginBridges?.includes(b) || !linkExists(b) || isMarkedLink(b, c.id)) }),
    ...(parent.masterVeth ? { masterVeth: parent.masterVeth } : {}),
  };
  // with port mappings, the shared chains there now; the host record keeps the first instance's view
  const chainsNow = c.portMap.trim() !== '' ? (previous?.sharedChainsBefore ?? (await sharedChainsWith(ctx.exec))) : undefined;
  // the host-level copy first: it must hold this instance before any ADD turns forwarding on, and survive
  // the run folder (the first instance in this network namespace notes the forwarding sysctls as found)
  const record = await joinHostRecord(
    ctx.names.runDir,
    {
      id: c.id,
      bridge: state.bridge,
      network: view.name,
      createdBridge: state.createdBridge,
      ...(wroteConf && confText !== undefined ? { conf: { file: confFile, sha256: sha256(confText) } } : {}),
      createdDirs: state.createdDirs,
    },
    { sysctlsHint: previous?.sysctls, warn: (m) => ctx.log.warn(m), ...(chainsNow ? { sharedChainsNow: chainsNow } : {}) },
  );
  if (chainsNow) state.sharedChainsBefore = record.sharedChainsBefore ?? chainsNow;
  ctx.state.write('host-setup', state);
  faultPoint('host-setup:after-state');

  if (spec && plan) await ensureBridge(ctx, plan, state.createdBridge ? linkMark(c.id) : undefined, spec.name);
  if (parent.masterVeth) await ensureMasterVeth(ctx, parent.masterVeth);
  faultPoint('host-setup:after-bridge');
  // the FORWARD fix names the network's bridge, which need not exist yet (the plugin may make it at ADD)
  if (state.bridge) await handleForwardPolicy(ctx, policies, state.bridge);
  if (confText !== undefined) {
    mkdirSync(c.confDir, { recursive: true, mode: 0o755 });
    writeFileAtomic(confFile, confText, 0o644);
  }
  ctx.log.info(describeSetup(view, state, plan?.adopt ?? false));
  return state;
}

/** One line on what host-setup prepared for the network. */
function describeSetup(view: NetworkView, s: HostSetupState, adopted: boolean): string {
  const parts: string[] = [];
  if (s.addrs.length > 0) parts.push(`bridge ${s.bridge}${adopted ? ' (adopted)' : ''} carries ${s.addrs.join(' and ')}`);
  if (s.pluginBridges?.length) parts.push(`bridge ${s.pluginBridges.join(', ')} left to the ${view.mainType} plugin`);
  if (s.masterVeth) parts.push(`${view.parent?.field ?? 'master'} ${s.masterVeth.master} made as a veth pair with ${s.masterVeth.peer}`);
  parts.push(`network "${view.name}" ${view.source === 'generated' ? `config ${s.confFile}` : `from ${view.file} (used as it is)`}`);
  return parts.join('; ');
}

/** Links of the network itself whose routes do not count as clashes: bridges of this instance, the --master-veth pair. */
function ownLinks(ctx: Ctx, view: NetworkView, mv: { master: string; peer: string } | undefined): string[] {
  return [...view.bridges.filter((b) => isMarkedLink(b, ctx.config.id)), ...(mv ? [mv.master, mv.peer] : [])];
}

/**
 * A rerun must run the network the instance went up with: another file, or the same file changed, while
 * containers may still be attached, would leave DEL with a config other than ADD's.
 */
function sameNetworkAsBefore(ctx: Ctx, previous: HostSetupState | undefined, view: NetworkView): void {
  const before = previous?.network;
  if (!before || (before.source === view.source && before.file === view.file && before.digest === view.digest)) return;
  const what = before.file === view.file ? `${view.file} changed` : `it ran ${before.file}, not ${view.file}`;
  throw new UserError(`instance "${ctx.config.id}" is already up with network "${before.name}" and ${what} since`, {
    field: 'netconf',
    hint: 'take the instance down first (down runs DEL with the config the ADD had), then up again',
  });
}

/** With --port-map: the plugins it needs, a cniVersion the firewall plugin speaks, free host ports. */
async function portMapPreflight(
  ctx: Ctx,
  pluginDirs: string[],
  policies: Promise<(string | undefined)[]>,
  view: NetworkView,
): Promise<UserError[]> {
  const c = ctx.config;
  if (c.portMap.trim() === '') return [];
  if (view.source === 'file') {
    // the user's file is used as it is: the mappings go to a plugin of theirs that takes them, or nowhere
    if (view.portMappings) return hostPortProblems(ctx, undefined, view.name);
    return [
      new UserError(`portMap: no plugin in ${view.file} takes port mappings, so --port-map would do nothing`, {
        field: 'portMap',
        hint: 'add a portmap plugin with "capabilities": {"portMappings": true} to your file, or drop --port-map',
      }),
    ];
  }
  const problems: UserError[] = [];
  const need = ['portmap', ...((await wantFirewall(ctx, policies)) ? ['firewall'] : [])];
  for (const p of need) {
    if (!pluginDirs.some((d) => existsSync(path.join(d, p)))) {
      problems.push(
        new UserError(`CNI plugin "${p}" not found in ${pluginDirs.join(':')}`, { hint: 'apt-get install containernetworking-plugins' }),
      );
    }
  }
  if (need.includes('firewall') && !['0.4.0', '1.0.0'].includes(c.cniVersion)) {
    problems.push(
      new UserError(`cniVersion ${c.cniVersion}: the firewall plugin (needed because FORWARD drops) speaks 0.4.0 and 1.0.0 only`, {
        field: 'cniVersion',
        hint: 'use --cni-version 0.4.0',
      }),
    );
  }
  problems.push(...(await hostPortProblems(ctx)));
  return problems;
}

/**
 * The firewall plugin joins the port-mapping chain when asked, or (auto) when FORWARD would drop its traffic
 * (a DROP policy, as Docker sets it), from the policies read once at the start of up.
 */
async function wantFirewall(ctx: Ctx, policies: Promise<(string | undefined)[]>): Promise<boolean> {
  const c = ctx.config;
  if (c.portMap.trim() === '' || c.firewall === 'off') return false;
  return c.firewall === 'on' || (await policies).some((p) => p === 'DROP' || p === 'REJECT');
}
