import { type AnyResult, convertResult, isSupportedVersion, type Result } from '@cni-demo/cni';
import {
  type CheckResult,
  type Ctx,
  type HostSetupState,
  ipToBigInt,
  type LinkInfo,
  type NetworkView,
  networkOf,
  parseCidr,
  type RouteInfo,
  inMainTable,
  readNetwork,
  routeTo,
} from '@cni-demo/core';
import { execArgv, inContainer, pingFrom, runCheck } from './checks.js';
import type { NetnsReader } from './topology.js';

/**
 * Every check derived from the CNI ADD result, never from our own config: what the plugins said they did is
 * what is looked for in the container (addresses on the interfaces the result names, its routes, its DNS), and
 * what is pinged (its gateways; its addresses from the host, where the network gives the host a path). The same
 * checks run for the generated network and for any file a user brings, and per container, so a caller with
 * containers elsewhere (another node) runs them per target.
 */

/** One container to check: where its interfaces are read, and the result its ADD returned. */
export interface CheckTarget {
  containerId: string;
  /** the pinned netns the container's links and routes are read through */
  netns: string;
  /** the final ADD result, in whatever spec version the network speaks */
  result: unknown;
  /** CNI_IFNAME: the interface of an address whose result names none (an IPAM-only or pre-0.3.0 result) */
  ifname: string;
}

export interface ExpectedIp {
  /** "address/prefixlen" as the result gives it */
  cidr: string;
  address: string;
  prefixlen: number;
  family: 4 | 6;
  ifname: string;
  gateway: string | undefined;
}

export interface ExpectedRoute {
  family: 4 | 6;
  /** the destination as the result writes it (the walkthrough's odd fde4:8dba:82e1::1/64) */
  written: string;
  /** taken as a network, as the kernel stores it ("default" for /0) */
  dst: string;
  /** the route's gw, or the gateway the plugin fills in: the first gateway of the result's addresses of that family */
  via: string | undefined;
  ifname: string;
}

export interface Expectations {
  ips: ExpectedIp[];
  routes: ExpectedRoute[];
  dns: { nameservers: string[]; search: string[]; domain: string | undefined } | undefined;
  /** interfaces the result puts on the host (no sandbox): a bridge, a veth's host end, an ifb */
  hostInterfaces: string[];
}

const familyOf = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);

/** Same address whatever its spelling (fd00::1 and fd00:0::1). */
export function sameIp(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = ipToBigInt(a);
  const y = ipToBigInt(b);
  return x !== undefined && y !== undefined && x.family === y.family && x.value === y.value;
}

/** A destination as the kernel keeps it: the network of the prefix, "default" for a /0. */
export function routeDst(dst: string): string | undefined {
  const p = parseCidr(dst.includes('/') ? dst : `${dst}/${familyOf(dst) === 4 ? 32 : 128}`);
  if (!p) return undefined;
  return p.bits === 0 ? 'default' : networkOf(p);
}

/** What the result says, read once: the checks' expectations. Throws when the result cannot be read. */
export function expectationsOf(result: unknown, ifname: string): Expectations {
  const version = (result as { cniVersion?: unknown } | null)?.cniVersion;
  if (typeof version !== 'string' || !isSupportedVersion(version)) {
    throw new Error(`the result's cniVersion ${JSON.stringify(version)} is not one this runtime reads`);
  }
  // any version to the 1.0.0 shape (a pre-0.3.0 result's ip4/ip6 become ips and routes)
  const r = convertResult(result as AnyResult, '1.0.0') as Result;
  const interfaces = r.interfaces ?? [];
  const nameOf = (i: number | undefined) => (i !== undefined ? interfaces[i]?.name : undefined) ?? ifname;
  const ips: ExpectedIp[] = [];
  for (const ip of r.ips ?? []) {
    const [address = '', len = ''] = ip.address.split('/');
    ips.push({
      cidr: ip.address,
      address,
      prefixlen: Number(len),
      family: familyOf(address),
      ifname: nameOf(ip.interface),
      gateway: ip.gateway || undefined,
    });
  }
  // libcni's ipam.ConfigureIface: a route without gw goes via the first gateway of its family, on the first
  // interface that carries an address of that family
  const routes: ExpectedRoute[] = [];
  for (const rt of r.routes ?? []) {
    const family = familyOf(rt.dst.split('/')[0] ?? '');
    const first = ips.find((i) => i.family === family && i.gateway);
    const dst = routeDst(rt.dst);
    if (!dst) continue;
    routes.push({
      family,
      written: rt.dst,
      dst,
      via: rt.gw || first?.gateway,
      ifname: (first ?? ips.find((i) => i.family === family))?.ifname ?? ifname,
    });
  }
  const d = r.dns;
  const dns =
    d && ((d.nameservers?.length ?? 0) > 0 || (d.search?.length ?? 0) > 0 || d.domain)
      ? { nameservers: d.nameservers ?? [], search: d.search ?? [], domain: d.domain || undefined }
      : undefined;
  return { ips, routes, dns, hostInterfaces: interfaces.filter((i) => !i.sandbox).map((i) => i.name) };
}

/** A row for a check that does not apply to this network, with the reason. */
export function notApplicable(name: string, reason: string): CheckResult {
  return { name, ok: true, na: true, detail: reason, durationMs: 0 };
}

/** Whether the host has a path to the container's address, and if not, why not. */
export type HostPath = { reachable: true; via?: string } | { reachable: false; reason: string };

/**
 * Does the network give the host a path to the container? A bridge with isGateway (the gateway on the bridge)
 * and ptp (the gateway on the host's veth end) promise one: the ping runs, and fails if the path is broken.
 * Otherwise there is one when the host's own route to the address leaves through a link of the network: an
 * interface its result names on the host side, or the --master-veth peer that carries the gateways. Never is
 * a packet sent anywhere else (the host's default route leads off the machine).
 */
export async function hostPathTo(ctx: Ctx, view: NetworkView, host: HostSetupState, exp: Expectations, ip: string): Promise<HostPath> {
  if (view.source === 'generated') return { reachable: true, via: host.bridge };
  if (view.kind === 'bridge' && view.bridge?.isGateway) return { reachable: true, via: view.bridge.name };
  if (view.kind === 'ptp') return { reachable: true };
  const links = [...exp.hostInterfaces, ...(host.masterVeth ? [host.masterVeth.peer] : [])];
  const r = await routeTo(ctx.exec, ip);
  if (r?.dev && links.includes(r.dev)) return { reachable: true, via: r.dev };
  const routed = `the host routes ${ip} ${r?.dev ? `via ${r.dev}` : 'nowhere'}`;
  switch (view.kind) {
    case 'macvlan':
    case 'ipvlan':
      return {
        reachable: false,
        reason:
          r?.dev && r.dev === view.parent?.name
            ? `the host cannot reach its own ${view.kind} child: ${routed}, its master, and the kernel passes nothing between a master and its ${view.kind} links`
            : `the host cannot reach its own ${view.kind} child, and ${routed}, not over a link of the network`,
      };
    case 'bridge':
      return { reachable: false, reason: `isGateway is off, so bridge ${view.bridge?.name} has no address: ${routed}` };
    case 'host-device':
      return { reachable: false, reason: `${view.parent?.name ?? 'the device'} moved into the container, and ${routed}` };
    default:
      return {
        reachable: false,
        reason: `the ${view.mainType} plugin gives the host no path: ${routed}, not over an interface of the result (${exp.hostInterfaces.join(', ') || 'none on the host'})`,
      };
  }
}

const routeText = (r: RouteInfo) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}`;

/** The kernel's route that stands for an expected one: same family and network, via the expected gateway (or none). */
export function findRoute(routes: RouteInfo[], want: ExpectedRoute): RouteInfo | undefined {
  return routes.find((r) => {
    if (r.family !== want.family) return false;
    const dst = r.dst === 'default' ? 'default' : routeDst(r.dst);
    if (dst !== want.dst) return false;
    if (r.dev && r.dev !== want.ifname) return false;
    return want.via ? sameIp(r.gateway, want.via) : !r.gateway;
  });
}

/** The check that one route of the result is in the container's table (`routes`: the container's, read once). */
export function routeCheck(rt: ExpectedRoute, routes: () => Promise<RouteInfo[]>, prefix = ''): Promise<CheckResult> {
  const shown = rt.dst === 'default' ? 'default' : rt.dst;
  const written = rt.written !== rt.dst && rt.dst !== 'default' ? ` (result: ${rt.written})` : '';
  return runCheck(`${prefix}route ${shown}${rt.via ? ` via ${rt.via}` : ` dev ${rt.ifname}`}${written}`, async () => {
    const all = await routes();
    const found = findRoute(all, rt);
    if (!found) {
      const same = all.filter((r) => r.family === rt.family && (r.dst === rt.dst || routeDst(r.dst) === rt.dst));
      throw new Error(same.length ? `only ${same.map(routeText).join('; ')}` : `no route to ${shown} in the container`);
    }
    return routeText(found);
  });
}

/** The nameservers and search domains a resolv.conf holds. */
export function parseResolvConf(text: string): { nameservers: string[]; search: string[]; domain: string | undefined } {
  const out = { nameservers: [] as string[], search: [] as string[], domain: undefined as string | undefined };
  for (const line of text.split('\n')) {
    const [key, ...rest] = line.trim().split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    if (key === 'search') out.search.push(...rest);
    if (key === 'domain' && rest[0]) out.domain = rest[0];
  }
  return out;
}

/** argv of a ping from inside the container (its own ping, as the walkthrough's `runc exec`). */
export type PingFrom = (containerId: string, args: string[]) => string[];

export const runcPing =
  (ctx: Ctx): PingFrom =>
  (id, args) =>
    execArgv(ctx, id, ['ping', ...args]);

/** Whether a ping to `ip` may be sent: only to addresses in the network's ranges (up.ts), never wherever a result points. */
export type PingAllowed = (ip: string) => boolean;

/**
 * The checks of one container, each derived from its ADD result; they run at once, the table keeps their order.
 * `hostPath` says for each address whether the host can reach it (see hostPathTo).
 */
export async function resultChecks(
  ctx: Ctx,
  t: CheckTarget,
  hostPath: (exp: Expectations, ip: string) => Promise<HostPath>,
  pingArgv: PingFrom = runcPing(ctx),
  read: NetnsReader = (pin) => readNetwork(ctx.exec, { pin }),
  allowed: PingAllowed = () => true,
): Promise<CheckResult[]> {
  let exp: Expectations;
  try {
    exp = expectationsOf(t.result, t.ifname);
  } catch (e) {
    return [await runCheck(`${t.containerId}: CNI result readable`, () => Promise.reject(e))];
  }
  let links: Promise<LinkInfo[]> | undefined;
  const linksIn = () => (links ??= read(t.netns).then((v) => v.links));
  let routes: Promise<RouteInfo[]> | undefined;
  const routesIn = () => (routes ??= read(t.netns).then((v) => v.routes.filter(inMainTable)));
  const rows: Promise<CheckResult>[] = [];

  if (exp.ips.length === 0)
    rows.push(runCheck('the CNI result has addresses', async () => Promise.reject(new Error('the result has no ips'))));
  for (const ip of exp.ips) {
    rows.push(
      runCheck(`${ip.ifname} has ${ip.cidr}`, async () => {
        const link = (await linksIn()).find((l) => l.ifname === ip.ifname);
        if (!link) throw new Error(`no interface ${ip.ifname} in ${t.netns}`);
        const has = link.addrs.filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
        if (!link.addrs.some((a) => sameIp(a.local, ip.address) && a.prefixlen === ip.prefixlen)) {
          throw new Error(`${ip.ifname} carries [${has.join(', ')}]`);
        }
        return `${ip.cidr} on ${ip.ifname}`;
      }),
    );
  }
  for (const rt of exp.routes) rows.push(routeCheck(rt, routesIn));
  rows.push(...gatewayChecks(ctx, t.containerId, exp, pingArgv, '', allowed));
  for (const ip of exp.ips) {
    const name = `host pings container ${ip.address}`;
    rows.push(
      hostPath(exp, ip.address).then((p) =>
        p.reachable
          ? runCheck(name, () => pingFrom(ctx, ['ping', `-${ip.family}`, '-c1', '-W1', ip.address]))
          : notApplicable(name, p.reason),
      ),
    );
  }
  rows.push(dnsCheck(ctx, t.containerId, exp));
  return Promise.all(rows);
}

/** Each gateway of the result pinged from the container, once each; an address without one is not applicable. */
export function gatewayChecks(
  ctx: Ctx,
  containerId: string,
  exp: Expectations,
  pingArgv: PingFrom = runcPing(ctx),
  prefix = '',
  allowed: PingAllowed = () => true,
): Promise<CheckResult>[] {
  const rows: Promise<CheckResult>[] = [];
  const pinged = new Set<string>();
  for (const ip of exp.ips) {
    if (!ip.gateway) {
      rows.push(
        Promise.resolve(
          notApplicable(`${prefix}container pings the gateway of ${ip.cidr}`, 'the result names no gateway for this address'),
        ),
      );
      continue;
    }
    if (pinged.has(ip.gateway)) continue;
    pinged.add(ip.gateway);
    const gw = ip.gateway;
    if (!allowed(gw)) {
      rows.push(
        Promise.resolve(notApplicable(`${prefix}container pings gateway ${gw}`, `not pinged: ${gw} is outside the network's ranges`)),
      );
      continue;
    }
    rows.push(
      runCheck(`${prefix}container pings gateway ${gw}`, () =>
        pingFrom(ctx, pingArgv(containerId, [...(ip.family === 6 ? ['-6'] : []), '-c1', '-W1', gw])),
      ),
    );
  }
  return rows;
}

/** The result's DNS (nameservers, search, domain) in the container's /etc/resolv.conf; not applicable without any. */
export function dnsCheck(ctx: Ctx, containerId: string, exp: Expectations, prefix = ''): Promise<CheckResult> {
  const name = `${prefix}resolv.conf has the result's DNS`;
  const dns = exp.dns;
  if (!dns) return Promise.resolve(notApplicable(name, 'the result has no DNS (no nameservers, search or domain)'));
  return runCheck(name, async () => {
    const r = await inContainer(ctx, containerId, ['cat', '/etc/resolv.conf']);
    const have = parseResolvConf(r.stdout);
    const missing = [
      ...dns.nameservers.filter((n) => !have.nameservers.some((h) => sameIp(h, n) || h === n)).map((n) => `nameserver ${n}`),
      ...dns.search.filter((s) => !have.search.includes(s)).map((s) => `search ${s}`),
      ...(dns.domain && have.domain !== dns.domain ? [`domain ${dns.domain}`] : []),
    ];
    if (missing.length > 0) throw new Error(`/etc/resolv.conf lacks ${missing.join(', ')}`);
    return [
      ...dns.nameservers.map((n) => `nameserver ${n}`),
      ...(dns.search.length ? [`search ${dns.search.join(' ')}`] : []),
      ...(dns.domain ? [`domain ${dns.domain}`] : []),
    ].join(', ');
  });
}
