import path from 'node:path';
import { imageRefProblem } from '../image-ref.js';
import { nthAddress, parseCidr, prefixContains } from '../net.js';
import { maxNodes, nodeHostVeth, nodeMode, nodeSubnets, podSubnetOverlapping, UNDERLAY_HOST_OFFSET, underlayCapacity } from '../nodes.js';
import { containerIdProblem, interfaceNameProblem, networkNameProblem } from '../name-rules.js';
import { parsePortMap, subnetCapacity } from '../port-map.js';

/**
 * The config's schema: every field, its type, default, help and check, declared once. Its flag
 * (--kebab-case) and env name (CNI_DEMO_SNAKE) are derived, so a field cannot be settable in one place and
 * unknown in another; args.ts parses flags from it, resolve.ts layers the sources over the defaults.
 */
export interface Config {
  id: string;
  network: string;
  bridge: string;
  subnet4: string;
  gateway4: string;
  subnet6: string;
  gateway6: string;
  cniVersion: string;
  ifname: string;
  ipMasq: boolean;
  isGateway: boolean;
  image: string;
  imageDigest: string;
  registryTlsVerify: boolean;
  pullTimeoutMs: number;
  cmd: string;
  rootless: boolean;
  rootlessUser: string;
  containers: number;
  concurrency: number;
  nodes: number;
  nodeIndex: number;
  underlaySubnet: string;
  underlayBridge: string;
  crossNodeSample: number;
  portMap: string;
  httpdContainer: number;
  firewall: string;
  pluginDirs: string[];
  netconf: string;
  masterVeth: boolean;
  confDir: string;
  stateDir: string;
  imageCacheDir: string;
  cniCacheDir: string;
  ipamDataDir: string;
  runcRoot: string;
  netnsDir: string;
  install: boolean;
  pluginTimeoutMs: number;
  lockWaitMs: number;
  containerLogMaxBytes: number;
  fixForward: boolean;
  verbose: boolean;
  json: boolean;
}

export type Kind = 'string' | 'int' | 'bool' | 'list' | 'path';

export interface FieldSpec<K extends keyof Config = keyof Config> {
  kind: Kind;
  default: Config[K];
  help: string;
  /**
   * the value when no source (file, environment, flag) set this field, computed from the resolved others;
   * undefined keeps `default` (a gateway follows its subnet only when that subnet was set and parses)
   */
  derive?: (cfg: Config) => Config[K] | undefined;
  /** returns a problem text (what is wrong and how to fix it) or undefined */
  check?: (value: Config[K], cfg: Config) => string | undefined;
  /** the only values allowed (the check enforces them; the config file's JSON Schema lists them) */
  choices?: readonly string[];
  /** the smallest whole number allowed (the check enforces it; the JSON Schema says it) */
  min?: number;
  /** the largest whole number allowed (the check enforces it; the JSON Schema says it) */
  max?: number;
  /**
   * a path (or list of paths) that may be relative: made absolute as it is read, against the config file's
   * folder when it comes from one, else the current folder, so every later reader sees the same path
   */
  relativePaths?: true;
}

/** The first address of a subnet (host-local's default gateway), undefined when it does not parse. */
function firstAddress(subnet: string): string | undefined {
  const p = parseCidr(subnet);
  return p ? nthAddress(p, 1n) : undefined;
}

const CNI_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
const FIREWALL = ['auto', 'on', 'off'] as const;

// the name rules (interface names, network names, container ids) live in name-rules.ts, shared with names
// read from elsewhere (a user's own network file: network.ts)
export { CNI_NAME_RE } from '../name-rules.js';

const absPath = (v: string) => (path.isAbsolute(v) ? undefined : `"${v}" must be an absolute path`);

/** Node's timers hold at most 2^31-1 ms (~24.8 days): a longer delay fires at once, so it is refused. */
export const MAX_TIMER_MS = 2_147_483_647;
const timerMax = (v: number) =>
  v > MAX_TIMER_MS ? `${v} is longer than Node's timer limit: use at most ${MAX_TIMER_MS} (~24.8 days)` : undefined;

export const schema: { [K in keyof Config]: FieldSpec<K> } = {
  id: {
    kind: 'string',
    default: 'demo',
    help: 'container id (and the name of its netns pin and state folder)',
    check: (v) => containerIdProblem(v),
  },
  network: {
    kind: 'string',
    default: 'connet',
    help: 'CNI network name',
    check: (v) => networkNameProblem(v),
  },
  bridge: {
    kind: 'string',
    default: 'cbr0',
    help: 'Linux bridge name',
    check: (v) => interfaceNameProblem(v),
  },
  subnet4: {
    kind: 'string',
    default: '192.168.199.0/24',
    help: 'IPv4 subnet for containers',
    check: (v) => {
      const p = parseCidr(v);
      if (!p || p.family !== 4) return `"${v}" is not an IPv4 CIDR like 192.168.199.0/24`;
      if (p.bits > 30) return `"${v}" is too small: use a prefix of /30 or shorter`;
      return undefined;
    },
  },
  gateway4: {
    kind: 'string',
    derive: (c) => firstAddress(c.subnet4),
    default: '192.168.199.1',
    help: 'IPv4 gateway (put on the bridge); when unset, the first address of subnet4',
    check: (v, c) => {
      const p = parseCidr(c.subnet4);
      if (p && !prefixContains(p, v)) return `"${v}" is not an IPv4 address inside subnet4 ${c.subnet4}`;
      return undefined;
    },
  },
  subnet6: {
    kind: 'string',
    default: 'fde4:8dba:82e1::/64',
    help: 'IPv6 subnet for containers',
    check: (v) => {
      const p = parseCidr(v);
      if (!p || p.family !== 6) return `"${v}" is not an IPv6 CIDR like fde4:8dba:82e1::/64`;
      if (p.bits > 126) return `"${v}" is too small: use a prefix of /126 or shorter`;
      return undefined;
    },
  },
  gateway6: {
    kind: 'string',
    derive: (c) => firstAddress(c.subnet6),
    default: 'fde4:8dba:82e1::1',
    help: 'IPv6 gateway (put on the bridge); when unset, the first address of subnet6',
    check: (v, c) => {
      const p = parseCidr(c.subnet6);
      if (p && !prefixContains(p, v)) return `"${v}" is not an IPv6 address inside subnet6 ${c.subnet6}`;
      return undefined;
    },
  },
  cniVersion: {
    kind: 'string',
    default: '0.4.0',
    help: 'cniVersion of the generated network config',
    choices: CNI_VERSIONS,
    check: (v) =>
      (CNI_VERSIONS as readonly string[]).includes(v)
        ? undefined
        : `"${v}" is not supported: use 0.3.0, 0.3.1, 0.4.0 or 1.0.0 (what Debian's plugins speak)`,
  },
  ifname: {
    kind: 'string',
    default: 'eth0',
    help: 'interface name inside the container',
    check: (v) => interfaceNameProblem(v),
  },
  ipMasq: { kind: 'bool', default: true, help: 'masquerade traffic leaving the subnet' },
  isGateway: { kind: 'bool', default: true, help: 'give the bridge the gateway addresses' },
  image: {
    kind: 'string',
    default: 'builtin:busybox',
    help: 'image to run: builtin:busybox (built offline from the host busybox), a registry reference (debian:bookworm, host:5000/app@sha256:...), oci:<dir>[:tag], oci-archive:<file>[:tag] or docker-archive:<file>',
    check: (v) => imageRefProblem(v),
  },
  imageDigest: {
    kind: 'string',
    default: '',
    help: 'pin: the image must have this sha256:<64 hex> digest, or the fetch is refused',
    check: (v) => (v === '' || /^sha256:[a-f0-9]{64}$/.test(v) ? undefined : `"${v}" is not a digest like sha256:<64 lowercase hex>`),
  },
  registryTlsVerify: {
    kind: 'bool',
    default: true,
    help: 'verify registry TLS; --no-registry-tls-verify is accepted only for a loopback registry (127.0.0.1, ::1, localhost)',
  },
  pullTimeoutMs: {
    kind: 'int',
    default: 600000,
    help: 'how long an image pull may take, in ms (a manifest lookup gets at most 30 s of it)',
    min: 1000,
    max: MAX_TIMER_MS,
    check: (v) => (v >= 1000 ? timerMax(v) : `${v} is too short: use 1000 or more`),
  },
  cmd: {
    kind: 'string',
    default: '',
    help: 'replaces the image Cmd: words split on spaces, or a JSON array (["httpd","-f","-p","80"])',
  },
  rootless: {
    kind: 'bool',
    default: false,
    help: 'run runc as rootlessUser in a user namespace (as runc spec --rootless)',
    // one uid is mapped and the bundle lives in the user's one folder: a lab of many containers is root's
    check: (v, c) => (v && c.containers > 1 ? `runs one container, not ${c.containers}: use --containers 1 with --rootless` : undefined),
  },
  rootlessUser: {
    kind: 'string',
    default: '',
    help: 'the unprivileged user (name or uid) runc runs as in rootless mode (default: $SUDO_USER)',
  },
  containers: {
    kind: 'int',
    default: 1,
    help: 'number of containers',
    min: 1,
    check: (v, c) => {
      if (v < 1) return `${v} is not a valid count: use 1 or more`;
      // with --netconf the file's IPAM hands the addresses out: a range too small is its plugin's error at ADD
      if (c.netconf !== '') return undefined;
      const cap = subnetCapacity(c.subnet4, c.subnet6);
      if (cap !== undefined && v > cap) {
        return `${v} containers do not fit: subnets ${c.subnet4} and ${c.subnet6} hold ${cap} (all addresses but network, gateway and broadcast); use at most ${cap} or a larger --subnet4`;
      }
      return undefined;
    },
  },
  concurrency: {
    kind: 'int',
    default: 8,
    help: 'how many containers are created, attached or checked at once',
    min: 1,
    check: (v) => (v >= 1 && v <= 256 ? undefined : `${v} is not valid: use 1 to 256`),
  },
  nodes: {
    kind: 'int',
    min: 1,
    default: 1,
    help: 'number of nodes: network namespaces joined by an underlay bridge, each with its own bridge and pod subnets (node i: the subnets moved up by i-1 times their size), routed to each other (host-gw)',
    check: (v, c) => {
      if (v < 1) return `${v} is not a valid node count: use 1 or more`;
      if (v === 1) return undefined;
      if (c.rootless)
        return `${v} nodes cannot run rootless: nodes are network namespaces, routes and an underlay bridge made by root; use --nodes 1 with --rootless`;
      if (c.portMap.trim() !== '')
        return `${v} nodes do not take --port-map (a host port maps into one network): use --nodes 1 with --port-map`;
      if (c.netconf !== '') {
        return `${v} nodes do not take --netconf yet: a network file of your own runs as one network on one host; use --nodes 1 with --netconf, or leave --netconf out for the generated network on every node`;
      }
      const fit = maxNodes(c);
      if (v > fit) {
        const last = nodeSubnets(c, v);
        return `${v} nodes do not fit: node ${v} would get ${last.subnet4} and ${last.subnet6}, past the block ${c.subnet4} and ${c.subnet6} lie in; use at most ${fit} nodes, or lower --subnet4/--subnet6`;
      }
      const cap = underlayCapacity(c.underlaySubnet);
      if (cap > 0 && v > cap) {
        return `${v} nodes do not fit on the underlay ${c.underlaySubnet} (node i takes host number ${UNDERLAY_HOST_OFFSET} + i): use at most ${cap} nodes or a larger --underlay-subnet`;
      }
      return undefined;
    },
  },
  nodeIndex: {
    kind: 'int',
    min: 0,
    default: 0,
    help: 'with --nodes N: 0 runs every node here as a network namespace; 1..N makes this machine (a VM) that node: its subnets by the rule, routes to the others via their underlay addresses',
    check: (v, c) => {
      if (v === 0) return undefined;
      if (c.nodes <= 1) return `${v} needs --nodes 2 or more (this machine as one node of several); use 0 with one node`;
      return v >= 1 && v <= c.nodes ? undefined : `${v} is not a node of ${c.nodes}: use 1 to ${c.nodes}, or 0 for every node here`;
    },
  },
  underlaySubnet: {
    kind: 'string',
    default: '192.168.198.0/24',
    help: 'IPv4 subnet of the network joining the nodes; node i has host number 10+i (with --node-index: the private network the VMs share)',
    check: (v, c) => {
      const p = parseCidr(v);
      if (p?.family !== 4) return `"${v}" is not an IPv4 CIDR like 192.168.198.0/24`;
      if (underlayCapacity(v) < 1) return `"${v}" is too small: node i takes host number ${UNDERLAY_HOST_OFFSET} + i; use a /27 or larger`;
      if (c.nodes <= 1) return undefined;
      const clash = podSubnetOverlapping(c, v);
      return clash
        ? `${v} overlaps node ${clash.node}'s pod subnet ${clash.subnet}: choose an underlay apart from the pod subnets`
        : undefined;
    },
  },
  underlayBridge: {
    kind: 'string',
    default: 'cbr0-ul',
    help: 'the bridge on the host joining the nodes (netns mode); node i plugs in through the veth <underlayBridge>-<i>',
    check: (v, c) => {
      const bad = interfaceNameProblem(v);
      if (bad || nodeMode(c) !== 'netns') return bad;
      const last = nodeHostVeth({ underlayBridge: v }, c.nodes);
      return Buffer.byteLength(last) > 15
        ? `"${v}" is too long for ${c.nodes} nodes: their veths are named ${v}-1 … ${last}, and interface names hold at most 15 bytes; use a shorter --underlay-bridge`
        : undefined;
    },
  },
  crossNodeSample: {
    kind: 'int',
    min: 0,
    default: 0,
    help: "verify's cross-node pings: 0 for every ordered pair of nodes (N*(N-1)), or at most this many pairs, spread over the nodes",
    check: (v) => (v >= 0 ? undefined : `${v} is negative: use 0 (every pair) or a number of pairs`),
  },
  portMap: {
    kind: 'string',
    default: '',
    help: 'host port mappings to the httpd container, hostPort:containerPort[/tcp|/udp], comma-separated (e.g. 8080:80/tcp); adds the portmap plugin',
    check: (v) => parsePortMap(v).problem,
  },
  httpdContainer: {
    kind: 'int',
    default: 1,
    help: 'with --port-map: which container (1..containers) runs busybox httpd on port 80 and gets the mappings',
    min: 1,
    check: (v, c) =>
      v >= 1 && v <= Math.max(1, c.containers) ? undefined : `${v} is not a container number: use 1 to ${c.containers} (--containers)`,
  },
  firewall: {
    kind: 'string',
    default: 'auto',
    help: "with --port-map: chain the firewall plugin: auto (when the host's FORWARD policy drops), on, off",
    choices: FIREWALL,
    check: (v) => ((FIREWALL as readonly string[]).includes(v) ? undefined : `"${v}" is not auto, on or off`),
  },
  pluginDirs: {
    kind: 'list',
    default: ['/opt/cni/bin', '/usr/lib/cni'],
    help: 'CNI plugin directories, searched in order (":"-separated; a relative one is taken from the current folder, e.g. ./bin:/usr/lib/cni)',
    check: (v) => (v.length === 0 ? 'needs at least one directory' : v.map(absPath).find(Boolean)),
    relativePaths: true,
  },
  netconf: {
    kind: 'path',
    default: '',
    help: 'run your own network: a CNI network config file (.conflist, or a single-plugin .conf/.json), used as it is instead of the generated bridge network; its plugins are looked up in --plugin-dirs',
    check: (v) => (v === '' ? undefined : absPath(v)),
    relativePaths: true,
  },
  masterVeth: {
    kind: 'bool',
    default: false,
    help: "with --netconf: make the macvlan/ipvlan/vlan master (host-device device) the file names, as a veth pair whose other end (<name>-gw) carries the network's gateways; down removes it",
    check: (v, c) => (v && c.netconf === '' ? 'only applies with --netconf (the generated network has no master)' : undefined),
  },
  confDir: { kind: 'path', default: '/etc/cni/net.d', help: 'where the network config file is written', check: absPath },
  stateDir: { kind: 'path', default: '/run/cni-demo', help: 'runtime state (dies at reboot with the netns)', check: absPath },
  imageCacheDir: { kind: 'path', default: '/var/cache/cni-demo', help: 'OCI image cache, kept across runs', check: absPath },
  cniCacheDir: { kind: 'path', default: '/var/lib/cni', help: 'CNI result cache root (libcni layout)', check: absPath },
  ipamDataDir: { kind: 'path', default: '/var/lib/cni/networks', help: 'host-local lease store', check: absPath },
  runcRoot: { kind: 'path', default: '/run/runc', help: 'runc state root (--root)', check: absPath },
  netnsDir: { kind: 'path', default: '/var/run/netns', help: 'where the container netns is pinned', check: absPath },
  install: { kind: 'bool', default: true, help: 'install missing system packages with apt-get' },
  pluginTimeoutMs: {
    kind: 'int',
    default: 30000,
    help: 'how long a CNI plugin may run, in ms (1 to 2147483647, as the CNI runtime takes it)',
    // the runtime's own bounds (@cni-demo/cni checkTimeoutMs), so a value the config accepts never fails later
    min: 1,
    max: MAX_TIMER_MS,
    check: (v) => (v >= 1 ? timerMax(v) : `${v} is not a timeout: use a whole number of milliseconds from 1 to ${MAX_TIMER_MS}`),
  },
  lockWaitMs: {
    kind: 'int',
    default: 60000,
    help: 'how long a step waits for another run of the same --id to finish, in ms (0: refuse at once)',
    min: 0,
    max: MAX_TIMER_MS,
    check: (v) => (v >= 0 ? timerMax(v) : `${v} is negative: use 0 or more`),
  },
  containerLogMaxBytes: {
    kind: 'int',
    default: 10 * 1024 * 1024,
    help: "the most a container's output takes on disk (<bundle>/container.log and the older container.log.1); the oldest output is dropped",
    min: 64 * 1024,
    check: (v) => (v >= 64 * 1024 ? undefined : `${v} is too small: use 65536 (64 KiB) or more`),
  },
  fixForward: {
    kind: 'bool',
    default: false,
    help: 'when the iptables FORWARD policy is DROP, add ACCEPT rules for the bridge (removed by down)',
  },
  verbose: { kind: 'bool', default: false, help: 'print every command run' },
  json: { kind: 'bool', default: false, help: 'print machine-readable JSON' },
};

export const FIELDS = Object.keys(schema) as (keyof Config)[];

export const flagName = (field: string) => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (field: string) => `CNI_DEMO_${field.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

export function defaults(): Config {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const d = schema[f].default;
    out[f] = Array.isArray(d) ? [...d] : d;
  }
  return out as unknown as Config;
}

/** Suggests the closest known name, for "did you mean". */
export function closest(name: string, names: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const n of names) {
    const d = editDistance(name.toLowerCase(), n.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0] ?? 0;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j] ?? 0;
      dp[j] = Math.min((dp[j] ?? 0) + 1, (dp[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length] ?? 0;
}

export function helpText(): string {
  const rows = FIELDS.map((f) => {
    const d = schema[f].default;
    const shown = Array.isArray(d) ? d.join(':') : String(d);
    return `  --${flagName(f).padEnd(18)} ${schema[f].help} (default ${shown}; env ${envName(f)})`;
  });
  return [
    'options (each also settable in a JSON config file given by --config or CNI_DEMO_CONFIG):',
    ...rows,
    '  --config <file>      JSON file with any of the fields above',
  ].join('\n');
}
