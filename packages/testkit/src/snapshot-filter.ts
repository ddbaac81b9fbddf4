import { createHash } from 'node:crypto';
import { type Config, containerIds, parseRules, ruleArg } from '@cni-demo/core';
import { type HostSnapshot, instanceRoots, lineDiff } from './snapshot.js';

/**
 * snapshotDiff restricted to what this instance could have touched. Other developers' tests run on the
 * same host at the same time and add and remove their own bridges, veths, routes and NAT rules, under
 * names nobody can list in advance. So a differing line counts when it names one of this instance's
 * objects, or when it is host-wide with no owner to tell:
 *
 * - ours by name: the bridge, network, container ids, subnets, and the names the plugins derive from the
 *   network and container id (the bridge plugin's masquerade chain, portmap's DNAT chain, bandwidth's ifb
 *   device), so an empty per-container chain with no rule naming us is still ours;
 * - ours by place: mounts under the instance's roots, files and folders under its conf, cache, IPAM and state
 *   folders (test roots are the test's own);
 * - host-wide: a chain policy changed in a table both snapshots have (a table loaded for the first time is
 *   no change; a policy other than ACCEPT is, wherever it appears), `net.bridge.*` sysctls, and the shared
 *   chains of portmap and firewall (CNI-HOSTPORT-*, CNI-FORWARD, CNI-ADMIN) with the jumps to them when the
 *   instance maps ports or runs a network file (without either it never runs those plugins), unless another
 *   instance's rule in them (in either snapshot) says another instance made or still uses them.
 *
 * The forwarding sysctls are left out: every instance on the host shares them, and the last one out restores
 * them (the host record), so a test here cannot tell its own effect from a concurrent test's; their exact
 * restore is tested in a private network namespace (cli/test/e2e/forwarding.test.ts). A leaked netns, lease or
 * cache entry outside the roots is the leak audit's to find.
 */
export function ownSnapshotDiff(a: HostSnapshot, b: HostSnapshot, config: Config): string {
  const own = ownership(config);
  const oa = operational(a);
  const ob = operational(b);
  const out: string[] = [];
  for (const key of new Set([...Object.keys(oa), ...Object.keys(ob)])) {
    const { removed, added } = lineDiff(oa[key], ob[key]);
    for (const [sign, lines] of [
      ['-', removed],
      ['+', added],
    ] as const) {
      for (const line of lines) if (counts(key, line, oa, ob, own)) out.push(`${key} ${sign} ${line}`);
    }
  }
  return out.join('\n');
}

/** The portmap and firewall plugins' shared chains, per table (as the plugins name them). */
const SHARED: Record<string, string[]> = {
  nat: ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'],
  filter: ['CNI-FORWARD', 'CNI-ADMIN'],
};

interface Ownership {
  needles: string[];
  /** roots whose mounts are ours */
  roots: string[];
  v4: string;
  v6: string;
  dnatChains: Set<string>;
  /** the instance's plugins may make the shared chains on this host (it maps ports, or runs a network file) */
  mayShare: boolean;
}

/**
 * The names containernetworking/plugins derives from the network name and container id (pkg/utils:
 * `"CNI-" + prefix + hex(sha512(network + id))` cut to 28 characters for chains; bandwidth's ifb is
 * `"bwp" + hex(sha512(network + id))` cut to 15), written out here from the plugins' rule, not taken from
 * the product.
 */
export function pluginNames(network: string, id: string): { masqChain: string; dnatChain: string; ifb: string } {
  const h = createHash('sha512')
    .update(network + id)
    .digest('hex');
  return { masqChain: `CNI-${h}`.slice(0, 28), dnatChain: `CNI-DN-${h}`.slice(0, 28), ifb: `bwp${h}`.slice(0, 15) };
}

function ownership(config: Config): Ownership {
  const v4 = `${config.subnet4.split('/')[0]?.split('.').slice(0, 3).join('.') ?? ''}.`;
  const v6 = `${config.subnet6.split('::')[0] ?? ''}:`;
  const derived = containerIds(config).map((id) => pluginNames(config.network, id));
  const needles = [config.bridge, `"${config.network}"`, `"${config.id}"`, config.id, v4, v6];
  // several nodes: the underlay bridge and its veths (<underlayBridge>-<i>), and the underlay subnet
  if (config.nodes > 1)
    needles.push(config.underlayBridge, `${config.underlaySubnet.split('/')[0]?.split('.').slice(0, 3).join('.') ?? ''}.`);
  for (const d of derived) needles.push(d.masqChain, d.dnatChain, d.ifb);
  const roots = instanceRoots(config);
  // portmap and firewall are chained only with port mappings (or by a network file of the user's): an instance
  // without either never makes the shared chains, so their coming and going while it ran is another instance's
  const mayShare = config.portMap.trim() !== '' || config.netconf !== '';
  return { needles: needles.filter((s) => s.length > 2), roots, v4, v6, dnatChains: new Set(derived.map((d) => d.dnatChain)), mayShare };
}

function counts(key: string, line: string, a: HostSnapshot, b: HostSnapshot, own: Ownership): boolean {
  if (key === 'files') return true;
  if (key === 'mounts') return own.roots.some((r) => line === r || line.startsWith(`${r}/`));
  if (key === 'sysctls') return line.startsWith('net.bridge.');
  if (key === 'iptables' || key === 'ip6tables') {
    const [table = '', ...rest] = line.split(' ');
    const text = rest.join(' ');
    const policy = /^:(\S+) (\S+)$/.exec(text);
    if (policy && policy[2] !== '-') {
      if (policy[2] !== 'ACCEPT') return true;
      return hasTable(a[key], table) && hasTable(b[key], table);
    }
    if (isShared(table, text)) return own.mayShare && !usedByAnother(table, a[key], own) && !usedByAnother(table, b[key], own);
  }
  return own.needles.some((n) => line.includes(n));
}

const hasTable = (snap: string | undefined, table: string) => (snap ?? '').split('\n').some((l) => l.startsWith(`${table} `));

/** A shared chain's declaration, a jump to it, or one of the chain's own fixed rules. */
function isShared(table: string, text: string): boolean {
  const shared = SHARED[table] ?? [];
  const decl = /^:(\S+) -$/.exec(text);
  if (decl) return shared.includes(decl[1] ?? '');
  const r = parseRules(text).rules[0];
  if (!r) return false;
  const target = ruleArg(r, '-j') ?? '';
  if (shared.includes(target)) return true;
  // inside a shared chain, a rule for one container (a jump to its DNAT chain, one naming its address) is that
  // container's, not the chain's
  if (!shared.includes(r.chain)) return false;
  return table === 'nat' ? !target.startsWith('CNI-DN-') : target === 'CNI-ADMIN';
}

/** Does this table hold another instance's per-container rule in a shared chain (or an admin's in CNI-ADMIN)? */
function usedByAnother(table: string, snap: string | undefined, own: Ownership): boolean {
  const lines = (snap ?? '')
    .split('\n')
    .filter((l) => l.startsWith(`${table} -A `))
    .map((l) => l.slice(table.length + 1));
  for (const r of parseRules(lines.join('\n')).rules) {
    const target = ruleArg(r, '-j') ?? '';
    if (table === 'nat' && r.chain === 'CNI-HOSTPORT-DNAT' && target.startsWith('CNI-DN-') && !own.dnatChains.has(target)) return true;
    if (table === 'filter' && r.chain === 'CNI-FORWARD' && target !== 'CNI-ADMIN' && !r.line.includes(own.v4) && !r.line.includes(own.v6))
      return true;
    if (table === 'filter' && r.chain === 'CNI-ADMIN') return true;
  }
  return false;
}

/**
 * Drops what the kernel changes by itself: carrier (a bridge with no port is UNKNOWN, one whose last port
 * left is DOWN/NO-CARRIER), duplicate address detection (tentative) and the link-local routes that appear
 * once it finishes. None of it is configuration anyone set.
 */
function operational(s: HostSnapshot): HostSnapshot {
  const out: HostSnapshot = {};
  for (const [k, v] of Object.entries(s)) {
    if (!['links', 'addrs', 'routes4', 'routes6'].includes(k)) {
      out[k] = v;
      continue;
    }
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
