import { CniError, ErrorCode } from './errors.js';
import type { IPConfig, LegacyResult, Result, Route } from './types.js';
import { compareVersions, isSupportedVersion } from './version.js';

export type AnyResult = Result | LegacyResult;

const isLegacy = (v: string) => compareVersions(v, '0.3.0') < 0;
const hasVersionField = (v: string) => compareVersions(v, '0.3.0') >= 0 && compareVersions(v, '1.0.0') < 0;

/** Reads a plugin's stdout as a result (libcni fixupResultVersion): no version means the request's. */
export function parseResult(stdout: string, requestVersion: string, plugin?: string): AnyResult {
  let v: unknown;
  try {
    v = JSON.parse(stdout);
  } catch (e) {
    throw new CniError({
      code: ErrorCode.DecodingFailure,
      msg: `failed to unmarshal raw result ${JSON.stringify(stdout.slice(0, 200))}: ${(e as Error).message}`,
      plugin,
      verb: 'ADD',
    });
  }
  if (v === null) v = {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new CniError({ code: ErrorCode.DecodingFailure, msg: 'result is not a JSON object', plugin, verb: 'ADD' });
  }
  const r = v as Record<string, unknown>;
  if (typeof r.cniVersion !== 'string' || r.cniVersion === '') r.cniVersion = requestVersion || '0.1.0';
  if (!isSupportedVersion(r.cniVersion as string)) {
    throw new CniError({
      code: ErrorCode.IncompatibleCNIVersion,
      msg: `unsupported CNI result version "${r.cniVersion}"`,
      plugin,
      verb: 'ADD',
    });
  }
  return r as unknown as AnyResult;
}

function familyOf(cidrOrIp: string): '4' | '6' {
  return cidrOrIp.includes(':') ? '6' : '4';
}

/** Any result to the rich (0.3.0+) shape, still labelled with its own version. */
function toRich(r: AnyResult): Result {
  if (!isLegacy(r.cniVersion)) return r as Result;
  const l = r as LegacyResult;
  const ips: IPConfig[] = [];
  const routes: Route[] = [];
  for (const fam of ['ip4', 'ip6'] as const) {
    const c = l[fam];
    if (!c) continue;
    ips.push({ address: c.ip, ...(c.gateway ? { gateway: c.gateway } : {}) });
    routes.push(...(c.routes ?? []));
  }
  const out: Result = { cniVersion: r.cniVersion, ips };
  if (routes.length) out.routes = routes;
  if (l.dns) out.dns = l.dns;
  return out;
}

/**
 * Converts a result between spec versions as libcni does: ips[].version is present exactly in
 * 0.3.x/0.4.0; 1.1.0-only interface fields are dropped going below 1.1.0; to 0.2.0 keeps the first
 * address of each family and moves routes under it.
 */
export function convertResult(r: AnyResult, toVersion: string): AnyResult {
  // a legacy config without cniVersion: libcni reads it, and the plugins answer, as 0.1.0
  const to = toVersion === '' ? '0.1.0' : toVersion;
  if (!isSupportedVersion(to)) {
    throw new CniError({ code: ErrorCode.IncompatibleCNIVersion, msg: `cannot convert a result to unknown version "${to}"` });
  }
  const rich = toRich(r);
  if (isLegacy(to)) {
    const out: LegacyResult = { cniVersion: to };
    const ips = rich.ips ?? [];
    if (ips.length === 0) {
      throw new CniError({ code: ErrorCode.IncompatibleCNIVersion, msg: `cannot convert a result with no IPs to version ${to}` });
    }
    for (const fam of ['4', '6'] as const) {
      const ip = ips.find((i) => (i.version ?? familyOf(i.address)) === fam);
      if (!ip) continue;
      const routes = (rich.routes ?? []).filter((rt) => familyOf(rt.dst) === fam);
      out[fam === '4' ? 'ip4' : 'ip6'] = {
        ip: ip.address,
        ...(ip.gateway ? { gateway: ip.gateway } : {}),
        ...(routes.length ? { routes } : {}),
      };
    }
    if (rich.dns) out.dns = rich.dns;
    return out;
  }
  const out: Result = { cniVersion: to };
  if (rich.interfaces) {
    out.interfaces = rich.interfaces.map((i) => {
      if (compareVersions(to, '1.1.0') >= 0) return { ...i };
      const { mtu: _m, socketPath: _s, pciID: _p, ...rest } = i;
      return rest;
    });
  }
  if (rich.ips) {
    out.ips = rich.ips.map((ip) => {
      const { version: _v, ...rest } = ip;
      return hasVersionField(to) ? { version: ip.version ?? familyOf(ip.address), ...rest } : rest;
    });
  }
  if (rich.routes) out.routes = rich.routes.map((rt) => ({ ...rt }));
  if (rich.dns) out.dns = rich.dns;
  return out;
}
