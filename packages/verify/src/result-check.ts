import { type AnyResult, convertResult, isSupportedVersion, type Result } from '@cni-demo/cni';
import { type CheckResult, parseCidr, prefixContains } from '@cni-demo/core';
import { runCheck } from './checks.js';
import { notApplicable } from './result-checks.js';

/** True when `ip` lies in one of the ranges. */
export function inRanges(ip: string | undefined, ranges: readonly string[]): boolean {
  return (
    !!ip &&
    ranges.some((r) => {
      const p = parseCidr(r);
      return p !== undefined && prefixContains(p, ip);
    })
  );
}

/**
 * What in a CNI result the network did not configure: an address (or gateway) outside every range its IPAM
 * hands out, or an `interface` index that points at no entry of `interfaces`. A plugin's result is its word;
 * it is checked against the network's ranges (the generated network's subnets, or the ranges of a user's
 * own file) rather than taken as given. With no ranges known (an IPAM such as dhcp), only the indexes.
 */
export function resultProblems(result: unknown, ranges: readonly string[]): string[] {
  const version = (result as { cniVersion?: unknown } | null)?.cniVersion;
  if (typeof version !== 'string' || !isSupportedVersion(version))
    return [`the result's cniVersion ${JSON.stringify(version)} cannot be read`];
  let r: Result;
  try {
    r = convertResult(result as AnyResult, '1.0.0') as Result;
  } catch (e) {
    return [`the result cannot be read: ${(e as Error).message}`];
  }
  const out: string[] = [];
  const interfaces = Array.isArray(r.interfaces) ? r.interfaces : [];
  const ips = Array.isArray(r.ips) ? r.ips : [];
  const outside = ranges.join(' and ');
  for (const [i, ip] of ips.entries()) {
    const addr = typeof ip.address === 'string' ? ip.address.split('/')[0] : undefined;
    if (!addr || !parseCidr(ip.address ?? '')) out.push(`ips[${i}].address ${JSON.stringify(ip.address)} is not an address/prefix`);
    else if (ranges.length > 0 && !inRanges(addr, ranges)) out.push(`ips[${i}].address ${ip.address} is outside ${outside}`);
    if (ip.gateway && ranges.length > 0 && !inRanges(ip.gateway, ranges)) out.push(`ips[${i}].gateway ${ip.gateway} is outside ${outside}`);
    if (ip.interface !== undefined && !(Number.isInteger(ip.interface) && ip.interface >= 0 && ip.interface < interfaces.length)) {
      out.push(`ips[${i}].interface ${JSON.stringify(ip.interface)} points at no entry of interfaces (${interfaces.length})`);
    }
  }
  return out;
}

export const RESULT_CHECK = "CNI result in the network's ranges";

/** One check per instance: every attachment's result lies in the network's ranges, its interface indexes point somewhere. */
export function resultCheck(attachments: { containerId: string; result: unknown }[], ranges: readonly string[]): Promise<CheckResult> {
  return runCheck(
    attachments.length === 1 ? RESULT_CHECK : `CNI results of ${attachments.length} containers in the network's ranges`,
    async () => {
      const problems = attachments.flatMap((a) =>
        resultProblems(a.result, ranges).map((p) => (attachments.length === 1 ? p : `${a.containerId}: ${p}`)),
      );
      if (problems.length > 0) throw new Error(`${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.join('; ')}`);
      return ranges.length > 0
        ? `every address in ${ranges.join(', ')}; interface indexes valid`
        : 'interface indexes valid (the IPAM names no ranges)';
    },
  );
}

/** A row for a ping not sent: the address lies outside the network, and packets go only to containers we made. */
export const notPinged = (name: string, ip: string, ranges: readonly string[]) =>
  notApplicable(name, `not pinged: ${ip} is outside ${ranges.join(' and ')}`);

export { notApplicable };
