import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, faultPoint, type HostSetupState, missingDirs, readSysctl, requireRoot, UserError, writeFileAtomic } from '@cni-demo/core';
import { ensureBridge, planBridge } from './bridge.js';
import { handleForwardPolicy } from './forward.js';
import { buildNetConf } from './netconf.js';
import { preflight } from './preflight.js';
import { isOurBridge, markBridge } from './recover.js';
import { FORWARDING_SYSCTLS } from './state.js';

export async function up(ctx: Ctx): Promise<HostSetupState> {
  requireRoot('host-setup');
  const c = ctx.config;
  const previous = ctx.state.read<HostSetupState>('host-setup');
  const found = await preflight(ctx);
  const ours = previous?.createdBridge === true || isOurBridge(ctx);
  const plan = await planBridge(ctx, { ours });

  const confText = `${JSON.stringify(buildNetConf(c), null, 2)}\n`;
  const confFile = ctx.names.confFile;
  const confExisted = existsSync(confFile);
  if (confExisted && readFileSync(confFile, 'utf8') !== confText && !previous?.wroteConf) {
    throw new UserError(`${confFile} already exists with a different network config for "${c.network}"`, {
      hint: `remove it if it is stale, or choose another network name with --network`,
    });
  }

  // what the demo will add to the filesystem, known before anything is added, so down can take it away
  const ipamNetDir = path.join(c.ipamDataDir, c.network);
  const createdDirs = new Set(previous?.createdDirs ?? []);
  for (const d of [c.confDir, path.join(c.cniCacheDir, 'results'), ipamNetDir, c.netnsDir]) {
    for (const m of missingDirs(d)) createdDirs.add(m);
  }

  const sysctls: Record<string, string> = previous?.sysctls ?? {};
  for (const key of FORWARDING_SYSCTLS) sysctls[key] ??= readSysctl(key) ?? '';

  // record the intent before changing anything, so a crash in the middle still leaves down a map
  const state: HostSetupState = {
    bridge: c.bridge,
    createdBridge: previous?.createdBridge ?? (!plan.existing || ours),
    addrs: plan.addrs,
    subnet4: c.subnet4,
    subnet6: c.subnet6,
    gateway4: c.gateway4,
    gateway6: c.gateway6,
    pluginDirs: found.pluginDirs,
    confFile,
    wroteConf: previous?.wroteConf ?? !confExisted,
    sysctls,
    tools: found.tools,
    createdDirs: [...createdDirs],
  };
  ctx.state.write('host-setup', state);
  faultPoint('host-setup:after-state');

  await ensureBridge(ctx, plan);
  if (state.createdBridge) await markBridge(ctx);
  faultPoint('host-setup:after-bridge');
  await handleForwardPolicy(ctx);
  mkdirSync(c.confDir, { recursive: true, mode: 0o755 });
  writeFileAtomic(confFile, confText, 0o644);
  ctx.log.info(`bridge ${c.bridge} ${plan.adopt ? '(adopted)' : ''} carries ${plan.addrs.join(' and ')}; network config ${confFile}`);
  return state;
}
