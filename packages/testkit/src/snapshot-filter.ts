import type { Config } from '@cni-demo/core';
import { snapshotDiff } from './snapshot.js';

/**
 * snapshotDiff restricted to what this instance could have touched. Other developers' tests run on the
 * same host at the same time and add and remove their own bridges, veths, routes and NAT rules, under
 * names nobody can list in advance. So a differing line counts when it names one of this instance's
 * objects (bridge, network, container id, subnets), or when it is host-wide with no owner to tell (chain
 * policies). The forwarding sysctls are left out: every instance on the host shares them, and the last one
 * out restores them (the host record), so a test here cannot tell its own effect from a concurrent test's;
 * their exact restore is tested in a private network namespace (cli/test/forwarding.test.ts). A veth of ours shows its bridge as master; a leaked netns, lease
 * or cache entry is the leak audit's to find.
 */
export function ownSnapshotDiff(a: Record<string, string>, b: Record<string, string>, config: Config): string {
  const v4 = config.subnet4.split('/')[0]?.split('.').slice(0, 3).join('.') ?? '';
  const v6 = config.subnet6.split('::')[0] ?? '';
  const ours = [config.bridge, `"${config.network}"`, `"${config.id}"`, config.id, `${v4}.`, `${v6}:`].filter((s) => s.length > 2);
  const hostWide = /^ip6?tables [+-] (:\S+ (ACCEPT|DROP)|-P )/;
  return snapshotDiff(operational(a), operational(b))
    .split('\n')
    .filter((l) => l !== '')
    .filter((l) => hostWide.test(l) || ours.some((o) => l.includes(o)))
    .join('\n');
}

/**
 * Drops what the kernel changes by itself: carrier (a bridge with no port is UNKNOWN, one whose last port
 * left is DOWN/NO-CARRIER), duplicate address detection (tentative) and the link-local routes that appear
 * once it finishes. None of it is configuration anyone set.
 */
function operational(s: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s)) {
    out[k] = v
      .split('\n')
      .filter((l) => !/^(local|anycast) fe80:/.test(l))
      .map((l) =>
        l
          .replace(
            /<([^>]*)>/,
            (_, f: string) =>
              `<${f
                .split(',')
                .filter((x) => x !== 'NO-CARRIER' && x !== 'LOWER_UP')
                .join(',')}>`,
          )
          .replace(/ state \S+/, '')
          .replace(/ (linkdown|tentative)\b/g, ''),
      )
      .join('\n');
  }
  return out;
}
