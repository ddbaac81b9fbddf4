import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { confFromFile, listCachedAttachments } from '@cni-demo/cni';
import {
  linkMark,
  type Config,
  type Ctx,
  containerIds,
  type HostSetupState,
  hasOwnerMark,
  isMarkedLink,
  linkExists,
  type NetworkView,
  recordedContainerIds,
  UserError,
} from '@cni-demo/core';
import type { BridgeSpec } from './bridge.js';

/**
 * What a user's network (--netconf) needs from the host, decided from the file before anything changes:
 * the walkthrough's hand-made bridge, a master for macvlan/ipvlan/vlan (or a device for host-device), and
 * no other instance holding the network's name with other content.
 */

/**
 * The walkthrough made its bridge by hand (cbr0 with both gateway addresses) and ran the bridge plugin on
 * it. A user's bridge network whose addresses call for that bridge (isGateway, one IPv4 and one IPv6 range,
 * each with its gateway) gets it made and adopted as the generated one does; any other bridge is the plugin's.
 */
export function handMadeBridge(view: NetworkView): BridgeSpec | undefined {
  if (view.source !== 'file' || view.kind !== 'bridge' || !view.bridge?.isGateway) return undefined;
  const v4 = view.ranges.filter((r) => !r.includes(':'));
  const v6 = view.ranges.filter((r) => r.includes(':'));
  const g4 = view.gateways.filter((g) => !g.includes(':'));
  const g6 = view.gateways.filter((g) => g.includes(':'));
  if (v4.length !== 1 || v6.length !== 1 || g4.length !== 1 || g6.length !== 1) return undefined;
  return { name: view.bridge.name, addrs: [g4[0] as string, g6[0] as string], subnetsFrom: view.file };
}

/** The other end of a --master-veth pair: `<master>-gw`, cut to fit Linux's 15 bytes. */
export const masterPeerName = (master: string) => `${master.slice(0, 12)}-gw`;

export type MasterVeth = NonNullable<HostSetupState['masterVeth']>;

/**
 * The link the main plugin hangs the container on must exist (refused, naming it, when it does not); with
 * --master-veth host-setup makes it instead, as a veth pair whose other end carries the network's gateways,
 * so the container's gateway answers and the host has a path to the container through it.
 */
export function planParent(ctx: Ctx, view: NetworkView): { masterVeth?: MasterVeth; problems: UserError[] } {
  const c = ctx.config;
  const problems: UserError[] = [];
  const parent = view.parent;
  if (!parent) {
    if (c.masterVeth) {
      problems.push(
        new UserError(`masterVeth: ${view.file} names no master or device for its ${view.mainType} plugin to make as a veth pair`, {
          field: 'masterVeth',
          hint: 'drop --master-veth, or name the link in the file ("master" for macvlan/ipvlan/vlan, "device" for host-device)',
        }),
      );
    }
    return { problems };
  }
  const { name, field } = parent;
  if (c.masterVeth) {
    const peer = masterPeerName(name);
    // an earlier up of this instance made it (our mark): adopted; anything else in the way is refused
    if (linkExists(name) && !isMarkedLink(name, c.id)) {
      problems.push(
        new UserError(`masterVeth: the ${field} "${name}" already exists, so --master-veth cannot make it`, {
          field: 'masterVeth',
          hint: `drop --master-veth to use the existing "${name}", or name another ${field} in ${view.file}`,
        }),
      );
    } else if (linkExists(peer) && !linkExists(name)) {
      problems.push(
        new UserError(`masterVeth: a link named "${peer}" already exists, so the veth pair ${name}/${peer} cannot be made`, {
          field: 'masterVeth',
          hint: `remove "${peer}" if it is stale, or name another ${field} in ${view.file}`,
        }),
      );
    }
    return { masterVeth: { master: name, peer, addrs: view.gateways }, problems };
  }
  if (!linkExists(name)) {
    problems.push(
      new UserError(`netconf: ${view.file}: the ${view.mainType} plugin's ${field} "${name}" does not exist on this host`, {
        field: 'netconf',
        hint: `name an existing link in "${field}", create "${name}", or pass --master-veth to have it made as a veth pair (down removes it)`,
      }),
    );
  }
  return { problems };
}

/** Makes the --master-veth pair (or completes the one an earlier up made), marked as this instance's, both ends up. */
export async function ensureMasterVeth(ctx: Ctx, mv: MasterVeth): Promise<void> {
  const lines: string[] = [];
  if (!linkExists(mv.master)) lines.push(`link add name ${mv.master} type veth peer name ${mv.peer}`);
  // replace: a rerun finds the addresses there already
  for (const a of mv.addrs) lines.push(`addr replace ${a} dev ${mv.peer}${a.includes(':') ? ' nodad' : ''}`);
  lines.push(`link set dev ${mv.master} alias ${linkMark(ctx.config.id)}`, `link set dev ${mv.master} up`, `link set dev ${mv.peer} up`);
  await ctx.exec('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/** Removes the --master-veth pair when it carries this instance's mark (its peer goes with it). */
export async function deleteMasterVeth(ctx: Ctx, mv: MasterVeth): Promise<boolean> {
  if (!linkExists(mv.master) || !isMarkedLink(mv.master, ctx.config.id)) return false;
  await ctx.exec('ip', ['link', 'del', mv.master], { allowFail: true });
  return true;
}

/** The network another instance's host-setup state names: its recorded view, or (older states) its config file. */
function networkOfState(s: HostSetupState): { name: string; digest: string } | undefined {
  if (s.network) return { name: s.network.name, digest: s.network.digest };
  try {
    const list = confFromFile(s.confFile);
    return { name: list.name, digest: digestOf(list.bytes) };
  } catch {
    return undefined;
  }
}

/** As the network view's digest: sha256 of the bytes the runtime caches for the network. */
const digestOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Two networks with one name would share host-local's lease folder and the plugins' rule comments: a name
 * another running instance (or another runtime's container, by the CNI cache) holds with different content is
 * refused. The same content is one network shared, as two containers share it.
 */
export function networkNameProblems(ctx: Ctx, view: NetworkView): UserError[] {
  const c: Config = ctx.config;
  const problems: UserError[] = [];
  const hint = `give your network another "name", or take the other instance down first`;
  let dirs: string[] = [];
  try {
    dirs = readdirSync(c.stateDir);
  } catch {
    /* no instance has run under this state folder */
  }
  for (const d of dirs) {
    if (d === c.id) continue;
    let s: HostSetupState;
    try {
      s = JSON.parse(readFileSync(path.join(c.stateDir, d, 'host-setup.json'), 'utf8')) as HostSetupState;
    } catch {
      continue;
    }
    const other = networkOfState(s);
    if (other?.name === view.name && other.digest !== view.digest) {
      problems.push(
        new UserError(
          `network "${view.name}" is already run by instance "${d}" with a different config (${s.network?.file ?? s.confFile})`,
          {
            field: c.netconf !== '' ? 'netconf' : 'network',
            hint,
          },
        ),
      );
    }
  }
  // ours: the configured ids, those this instance has a record of, and attachments carrying its mark
  const mine = new Set([...containerIds(c), ...recordedContainerIds(c)]);
  for (const e of listCachedAttachments(c.cniCacheDir)) {
    if (e.networkName !== view.name || mine.has(e.containerId) || hasOwnerMark(c, e.cniArgs) || !e.config) continue;
    if (digestOf(Buffer.from(e.config, 'base64')) === view.digest) continue;
    problems.push(
      new UserError(
        `network "${view.name}" is in use by container "${e.containerId}" with a different config (CNI cache ${c.cniCacheDir})`,
        { field: c.netconf !== '' ? 'netconf' : 'network', hint },
      ),
    );
    break;
  }
  return problems;
}
