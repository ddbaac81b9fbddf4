import {
  bridgePorts,
  type Ctx,
  interfaceNameProblem,
  type LinkInfo,
  linkExists,
  networkOf,
  parseCidr,
  prefixesOverlap,
  readNetwork,
  type RouteInfo,
  UserError,
  UserErrors,
} from '@cni-demo/core';

export interface BridgePlan {
  /** the exact addresses the bridge must carry, "ip/prefixlen" */
  addrs: string[];
  /** the link as found, if any */
  existing: LinkInfo | undefined;
  /** true when a bridge with exactly our addresses is already there (made by hand, or by an earlier run) */
  adopt: boolean;
}

export function bridgeAddrs(ctx: Ctx): string[] {
  const c = ctx.config;
  const p4 = parseCidr(c.subnet4);
  const p6 = parseCidr(c.subnet6);
  return [`${c.gateway4}/${p4?.bits}`, `${c.gateway6}/${p6?.bits}`];
}

const norm = (a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`.toLowerCase();

/** The bridge host-setup makes (or adopts): its name, the exact addresses, the subnets they stand for. */
export interface BridgeSpec {
  name: string;
  addrs: string[];
  /** which field a clashing subnet comes from: the config's --subnet4/6, or the user's file */
  subnetsFrom: 'config' | string;
}

/** The generated network's bridge: the config's name and gateways. */
export function configBridge(ctx: Ctx): BridgeSpec {
  return { name: ctx.config.bridge, addrs: bridgeAddrs(ctx), subnetsFrom: 'config' };
}

/**
 * Host safety, decided before anything changes: a link with the bridge's name is adopted only when it is
 * a bridge carrying exactly our addresses; our subnets must not overlap any route the host has (other
 * than the ones on our own bridge).
 */
export async function planBridge(ctx: Ctx, opts: { ours?: boolean; spec?: BridgeSpec } = {}): Promise<BridgePlan> {
  const spec = opts.spec ?? configBridge(ctx);
  const { name, addrs } = spec;
  // the links and every route, in one read
  const { links, routes } = await readNetwork(ctx.exec);
  const existing = links.find((l) => l.ifname === name);
  const problems: UserError[] = [];
  let adopt = false;
  if (existing) {
    if (existing.kind !== 'bridge') {
      problems.push(
        new UserError(`a ${existing.kind ?? 'non-bridge'} link named "${name}" already exists, so the bridge cannot be made`, {
          hint:
            spec.subnetsFrom === 'config'
              ? `choose another name with --bridge, or remove that link if it is not needed`
              : `choose another "bridge" in ${spec.subnetsFrom}, or remove that link if it is not needed`,
        }),
      );
    } else {
      const have = existing.addrs
        .filter((a) => a.scope !== 'link')
        .map(norm)
        .sort();
      const want = addrs.map((a) => a.toLowerCase()).sort();
      if (JSON.stringify(have) === JSON.stringify(want) || (opts.ours && have.every((a) => want.includes(a)))) {
        // ours: an earlier run made it and was killed before every address was on it; ensureBridge completes it
        adopt = true;
      } else {
        problems.push(
          new UserError(`bridge "${name}" already exists with addresses [${have.join(', ') || 'none'}], not [${want.join(', ')}]`, {
            hint:
              spec.subnetsFrom === 'config'
                ? `use another --bridge name, or give the bridge exactly ${want.join(' and ')}`
                : `use another "bridge" in ${spec.subnetsFrom}, or give the bridge exactly ${want.join(' and ')}`,
          }),
        );
      }
    }
  }
  const subnets = addrs.map((a) => parseCidr(a)).flatMap((p) => (p ? [networkOf(p)] : []));
  problems.push(...overlapProblems(routes, subnets, [name], spec.subnetsFrom));
  if (problems.length === 1 && problems[0]) throw problems[0];
  if (problems.length > 1) throw new UserErrors(problems, 'host-setup refused to change the host');
  return { addrs, existing, adopt };
}

/**
 * The subnets against every route the host has, except those on links of the network itself (its bridge, a
 * master host-setup made): one problem per subnet that overlaps one. `from` names where a subnet is set.
 */
export function overlapProblems(routes: RouteInfo[], subnets: string[], ownLinks: string[], from: 'config' | string): UserError[] {
  const problems: UserError[] = [];
  for (const subnet of subnets) {
    const ours = parseCidr(subnet);
    if (!ours) continue;
    const clash = routes.find((r) => routeClashes(r, ours, ownLinks));
    if (clash) {
      problems.push(
        new UserError(`subnet ${subnet} overlaps the host route ${clash.dst}${clash.dev ? ` on ${clash.dev}` : ''}`, {
          hint:
            from === 'config'
              ? `choose a free subnet with --subnet${ours.family} (and --gateway${ours.family})`
              : `choose a free subnet in ${from} (its IPAM ranges)`,
          field: from === 'config' ? `subnet${ours.family}` : 'netconf',
        }),
      );
    }
  }
  return problems;
}

/** Does route `r` (not on one of `ownLinks`) overlap our prefix? Default routes, multicast and link-local do not count. */
export function routeClashes(r: RouteInfo, ours: NonNullable<ReturnType<typeof parseCidr>>, ownLinks: string[]): boolean {
  if (r.dev && ownLinks.includes(r.dev)) return false;
  if (r.dst === 'default' || r.dst === '') return false;
  if (r.type && !['unicast', 'local', 'blackhole', 'unreachable', 'prohibit'].includes(r.type)) return false;
  // the local table holds one /32 per own address; a clash there is a clash with an address the host owns
  const dst = r.dst.includes('/') ? r.dst : `${r.dst}/${r.family === 4 ? 32 : 128}`;
  const theirs = parseCidr(dst);
  if (!theirs || theirs.family !== ours.family) return false;
  if (theirs.family === 6 && (r.dst.startsWith('fe80:') || r.dst.startsWith('ff00:') || r.dst.startsWith('ff'))) return false;
  return prefixesOverlap(theirs, ours);
}

/**
 * Makes the bridge (or adopts the one that is there) with both addresses, up, and (when given) marks it
 * with `alias`. Idempotent. One `ip -batch` process for every change: it stops at the first command that
 * fails and names its line, and the mark goes on in the same breath as the bridge.
 */
export async function ensureBridge(ctx: Ctx, plan: BridgePlan, alias?: string, name = ctx.config.bridge): Promise<void> {
  // the batch is text: a name it would read as a comment, a quoted word or two words never gets that far
  const problem = interfaceNameProblem(name);
  if (problem) throw new UserError(`bridge: ${problem}`, { field: 'bridge', hint: 'choose a bridge name such as br1' });
  const lines: string[] = [];
  if (!plan.existing) lines.push(`link add name ${name} type bridge`);
  const have = new Set((plan.existing?.addrs ?? []).map(norm));
  for (const a of plan.addrs) {
    if (have.has(a.toLowerCase())) continue;
    // nodad: the gateway must answer at once, not after duplicate address detection finishes (the family
    // comes from the address itself: batch lines take no -6)
    lines.push(`addr add ${a} dev ${name}${a.includes(':') ? ' nodad' : ''}`);
  }
  lines.push(`link set dev ${name} up`);
  if (alias) lines.push(`link set dev ${name} alias ${alias}`);
  await ctx.exec('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
}

export async function deleteBridge(ctx: Ctx, name: string): Promise<'deleted' | 'absent' | 'in-use'> {
  // sysfs says whether it exists, is a bridge and has ports: no process until the delete itself
  if (!linkExists(name)) return 'absent';
  const ports = bridgePorts(name);
  if (ports === undefined || ports.length > 0) return 'in-use';
  await ctx.exec('ip', ['link', 'del', name]);
  return 'deleted';
}
