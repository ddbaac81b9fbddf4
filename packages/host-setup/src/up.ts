import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cacheResultsDir } from '@cni-demo/cni';
import {
  bridgeMark,
  type Ctx,
  faultPoint,
  FORWARDING_SYSCTLS,
  forwardPolicies,
  type HostSetupState,
  instanceRecord,
  joinHostRecord,
  leaseDir,
  missingDirs,
  readSysctl,
  requireRoot,
  sharedChainsWith,
  sha256,
  UserError,
  UserErrors,
  writeFileAtomic,
} from '@cni-demo/core';
import { hostPortProblems } from './ports.js';
import { ensureBridge, planBridge } from './bridge.js';
import { handleForwardPolicy } from './forward.js';
import { buildNetConf } from './netconf.js';
import { type PreflightResult, preflight } from './preflight.js';
import { isOurBridge } from './recover.js';

export async function up(ctx: Ctx, stages: { preflight?: unknown } = {}): Promise<HostSetupState> {
  requireRoot('host-setup');
  const c = ctx.config;
  const previous = ctx.state.read<HostSetupState>('host-setup');
  // the host record outlives the run folder: with the state lost, it still knows what an earlier up made
  const recorded = instanceRecord(ctx.names.runDir, { warn: (m) => ctx.log.warn(m) });
  const found = (stages.preflight as PreflightResult | undefined) ?? (await preflight(ctx));
  // read once, now: the port-map checks and the FORWARD handling after the bridge is made both use it (the
  // policy does not depend on anything host-setup changes)
  const policies = forwardPolicies(ctx.exec);
  policies.catch(() => undefined);
  const ours = previous?.createdBridge === true || recorded?.createdBridge === true || isOurBridge(ctx);
  // independent looks at the host, made at once; nothing changes before all of them passed
  const [portProblems, planned] = await Promise.all([
    portMapPreflight(ctx, found.pluginDirs, policies),
    planBridge(ctx, { ours }).then(
      (p) => ({ p }),
      (e: unknown) => ({ e }),
    ),
  ]);
  if ('e' in planned) {
    if (!(planned.e instanceof UserError) || portProblems.length === 0) throw planned.e;
    throw new UserErrors([planned.e, ...portProblems], 'host-setup refused to change the host');
  }
  const plan = planned.p;
  if (portProblems.length === 1 && portProblems[0]) throw portProblems[0];
  if (portProblems.length > 1) throw new UserErrors(portProblems, 'the port mappings cannot be made');
  const firewall = await wantFirewall(ctx, policies);
  const netconf = buildNetConf(c, { firewall });

  const confText = `${JSON.stringify(netconf, null, 2)}\n`;
  const confFile = ctx.names.confFile;
  const confExisted = existsSync(confFile);
  const wroteConf = previous?.wroteConf ?? (recorded ? recorded.conf !== undefined : !confExisted);
  if (confExisted && readFileSync(confFile, 'utf8') !== confText && !wroteConf) {
    throw new UserError(`${confFile} already exists with a different network config for "${c.network}"`, {
      hint: `remove it if it is stale, or choose another network name with --network`,
    });
  }

  // what the demo will add to the filesystem, known before anything is added, so down can take it away
  const ipamNetDir = leaseDir(c.ipamDataDir, c.network);
  const createdDirs = new Set([...(previous?.createdDirs ?? []), ...(recorded?.createdDirs ?? [])]);
  for (const d of [c.confDir, cacheResultsDir(c.cniCacheDir), ipamNetDir, c.netnsDir]) {
    for (const m of missingDirs(d)) createdDirs.add(m);
  }

  const sysctls: Record<string, string> = previous?.sysctls ?? {};
  for (const key of FORWARDING_SYSCTLS) sysctls[key] ??= readSysctl(key) ?? '';

  // record the intent before changing anything, so a crash in the middle still leaves down a map
  const state: HostSetupState = {
    bridge: c.bridge,
    createdBridge: previous?.createdBridge ?? recorded?.createdBridge ?? (!plan.existing || ours),
    addrs: plan.addrs,
    subnet4: c.subnet4,
    subnet6: c.subnet6,
    gateway4: c.gateway4,
    gateway6: c.gateway6,
    pluginDirs: found.pluginDirs,
    confFile,
    wroteConf,
    sysctls,
    tools: found.tools,
    createdDirs: [...createdDirs],
    chainedPlugins: (netconf.plugins as { type: string }[]).slice(1).map((p) => p.type),
  };
  // with port mappings, the shared chains there now; the host record keeps the first instance's view
  const chainsNow = c.portMap.trim() !== '' ? (previous?.sharedChainsBefore ?? (await sharedChainsWith(ctx.exec))) : undefined;
  // the host-level copy first: it must hold this instance before any ADD turns forwarding on, and survive
  // the run folder (the first instance in this network namespace notes the forwarding sysctls as found)
  const record = await joinHostRecord(
    ctx.names.runDir,
    {
      id: c.id,
      bridge: c.bridge,
      network: c.network,
      createdBridge: state.createdBridge,
      ...(wroteConf ? { conf: { file: confFile, sha256: sha256(confText) } } : {}),
      createdDirs: state.createdDirs,
    },
    { sysctlsHint: previous?.sysctls, warn: (m) => ctx.log.warn(m), ...(chainsNow ? { sharedChainsNow: chainsNow } : {}) },
  );
  if (chainsNow) state.sharedChainsBefore = record.sharedChainsBefore ?? chainsNow;
  ctx.state.write('host-setup', state);
  faultPoint('host-setup:after-state');

  await ensureBridge(ctx, plan, state.createdBridge ? bridgeMark(c.id) : undefined);
  faultPoint('host-setup:after-bridge');
  await handleForwardPolicy(ctx, policies);
  mkdirSync(c.confDir, { recursive: true, mode: 0o755 });
  writeFileAtomic(confFile, confText, 0o644);
  ctx.log.info(`bridge ${c.bridge} ${plan.adopt ? '(adopted)' : ''} carries ${plan.addrs.join(' and ')}; network config ${confFile}`);
  return state;
}

/** With --port-map: the plugins it needs, a cniVersion the firewall plugin speaks, free host ports. */
async function portMapPreflight(ctx: Ctx, pluginDirs: string[], policies: Promise<(string | undefined)[]>): Promise<UserError[]> {
  const c = ctx.config;
  if (c.portMap.trim() === '') return [];
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
