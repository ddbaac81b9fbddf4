import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { CniRuntime, confFromFile, findInPath } from '@cni-demo/cni';
import { type Ctx, loadNetconf, type NetworkView, nodeMode, readSysctl, UserError, UserErrors, writeFileAtomic } from '@cni-demo/core';

/** What the demo needs on the host, with the Debian package that brings each. */
export const REQUIRED_COMMANDS: Record<string, string> = {
  ip: 'iproute2',
  iptables: 'iptables',
  ip6tables: 'iptables',
  runc: 'runc',
  umoci: 'umoci',
  busybox: 'busybox-static',
  ping: 'iputils-ping',
  mount: 'mount',
};
/** What several nodes need besides: namespaces made and entered, their sysctls and masquerade set from inside. */
export const NODE_COMMANDS: Record<string, string> = {
  unshare: 'util-linux',
  nsenter: 'util-linux',
  sysctl: 'procps',
  'iptables-restore': 'iptables',
  'ip6tables-restore': 'iptables',
};
export const REQUIRED_PLUGINS = ['bridge', 'host-local', 'loopback'];
export const PLUGIN_PACKAGE = 'containernetworking-plugins';
/** The plugins Debian's containernetworking-plugins installs: only for these does apt-get help. */
export const PACKAGED_PLUGINS = [
  'bandwidth',
  'bridge',
  'dhcp',
  'firewall',
  'host-device',
  'host-local',
  'ipvlan',
  'loopback',
  'macvlan',
  'portmap',
  'ptp',
  'sbr',
  'static',
  'tuning',
  'vlan',
  'vrf',
];

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function whichCommand(cmd: string, envPath = process.env.PATH ?? ''): string | undefined {
  const dirs = [...envPath.split(':').filter(Boolean), ...SEARCH_PATH];
  for (const d of dirs) {
    const full = path.join(d, cmd);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/** busybox goes into the container's rootfs, so it must be the static build (no ld.so inside the image). */
export function isStaticElf(file: string): boolean {
  const buf = readFileSync(file);
  return !buf.includes(Buffer.from('/lib64/ld-linux')) && !buf.includes(Buffer.from('/lib/ld-linux'));
}

export interface Missing {
  packages: Set<string>;
  problems: UserError[];
}

export interface PreflightResult {
  tools: Record<string, string>;
  pluginDirs: string[];
  /** with --netconf: the user's network, loaded and checked (its plugins found, their versions, its link types) */
  network?: NetworkView;
}

/** Looks at everything at once so one run reports every missing thing. `network`: the user's (--netconf). */
export function findMissing(ctx: Ctx, network?: NetworkView): Missing {
  const packages = new Set<string>();
  const problems: UserError[] = [];
  const commands = { ...REQUIRED_COMMANDS, ...(nodeMode(ctx.config) === 'single' ? {} : NODE_COMMANDS) };
  for (const [cmd, pkg] of Object.entries(commands)) {
    const found = whichCommand(cmd);
    if (!found) {
      packages.add(pkg);
      problems.push(new UserError(`command "${cmd}" not found`, { hint: `apt-get install ${pkg}` }));
    } else if (cmd === 'busybox' && !isStaticElf(found)) {
      packages.add(pkg);
      problems.push(
        new UserError(`${found} is a dynamically linked busybox; the container image needs the static one`, {
          hint: `apt-get install ${pkg}`,
        }),
      );
    }
  }
  const dirs = ctx.config.pluginDirs;
  for (const plugin of network?.binaries ?? REQUIRED_PLUGINS) {
    if (!dirs.some((d) => existsSync(path.join(d, plugin)))) {
      const packaged = PACKAGED_PLUGINS.includes(plugin);
      if (packaged) packages.add(PLUGIN_PACKAGE);
      problems.push(
        new UserError(`CNI plugin "${plugin}" not found in ${dirs.join(':')} (the plugin dirs searched, in order)`, {
          field: 'pluginDirs',
          hint: packaged
            ? `apt-get install ${PLUGIN_PACKAGE} (puts plugins in /usr/lib/cni), or point --plugin-dirs at your plugins`
            : `put the "${plugin}" binary into one of them, or add its folder to --plugin-dirs (e.g. --plugin-dirs ./bin:/usr/lib/cni)`,
        }),
      );
    }
  }
  // an IPv4-only network of the user's does not need IPv6; the generated one has both families
  if ((!network || network.ranges.some((r) => r.includes(':'))) && readSysctl('net.ipv6.conf.all.disable_ipv6') === '1') {
    problems.push(
      new UserError('IPv6 is disabled on this host (net.ipv6.conf.all.disable_ipv6 = 1)', {
        hint: 'enable it: sysctl -w net.ipv6.conf.all.disable_ipv6=0',
      }),
    );
  }
  if (!existsSync('/proc/sys/net/ipv4/ip_forward')) {
    problems.push(
      new UserError('/proc/sys/net is not available: this is not a full Linux network stack', { hint: 'run on a Linux VM or host' }),
    );
  }
  return { packages, problems };
}

/** Kernel support that packages cannot bring: bridge and veth links must be creatable (both probed at once). */
export async function checkKernel(ctx: Ctx): Promise<UserError[]> {
  const probe = `cdprobe${process.pid % 100000}`;
  const [bridge, veth] = await Promise.all([
    (async () => {
      const r = await ctx.exec('ip', ['link', 'add', probe, 'type', 'bridge'], { allowFail: true });
      if (r.exitCode !== 0) {
        return new UserError(`the kernel refused a bridge link: ${r.stderr.trim()}`, { hint: 'load the bridge module: modprobe bridge' });
      }
      await ctx.exec('ip', ['link', 'del', probe], { allowFail: true });
      return undefined;
    })(),
    (async () => {
      const r = await ctx.exec('ip', ['link', 'add', `${probe}v`, 'type', 'veth', 'peer', 'name', `${probe}p`], { allowFail: true });
      if (r.exitCode !== 0) {
        return new UserError(`the kernel refused a veth pair: ${r.stderr.trim()}`, { hint: 'load the veth module: modprobe veth' });
      }
      await ctx.exec('ip', ['link', 'del', `${probe}v`], { allowFail: true });
      return undefined;
    })(),
  ]);
  return [bridge, veth].filter((p): p is UserError => p !== undefined);
}

/** A child link type needs a parent to hang on: the probe makes a veth pair for it (a letter each, so probes run at once). */
const CHILD_KINDS: Record<string, { letter: string; args: string[] }> = {
  macvlan: { letter: 'a', args: ['mode', 'bridge'] },
  ipvlan: { letter: 'b', args: ['mode', 'l2'] },
  vlan: { letter: 'c', args: ['id', '2'] },
};

/**
 * Can this kernel make links of `kind`? Probed for real with a throw-away link (removed again at once): a kernel
 * built without the type, or without its module, answers "Unknown device type". Returns the problem or undefined.
 */
export async function probeLinkKind(ctx: Ctx, kind: string, plugins: string[]): Promise<UserError | undefined> {
  const probe = `cdprobe${process.pid % 100000}`;
  const child = CHILD_KINDS[kind];
  let parent: string | undefined;
  let argv: string[];
  if (child) {
    parent = `${probe}${child.letter}p`;
    const made = await ctx.exec('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', `${probe}${child.letter}q`], {
      allowFail: true,
    });
    if (made.exitCode !== 0)
      return new UserError(`the kernel refused a veth pair: ${made.stderr.trim()}`, { hint: 'load the veth module: modprobe veth' });
    argv = ['link', 'add', 'link', parent, 'name', `${probe}${child.letter}`, 'type', kind, ...child.args];
  } else {
    const name = `${probe}${kind.slice(0, 2)}`;
    const extra = kind === 'vrf' ? ['table', '4242'] : kind === 'veth' ? ['peer', 'name', `${name}q`] : [];
    argv = ['link', 'add', name, 'type', kind, ...extra];
  }
  try {
    const r = await ctx.exec('ip', argv, { allowFail: true });
    if (r.exitCode === 0) {
      if (!child) await ctx.exec('ip', ['link', 'del', argv[2] as string], { allowFail: true });
      return undefined;
    }
    const who =
      plugins.length > 0
        ? `the ${plugins.join(' and ')} plugin${plugins.length > 1 ? 's' : ''} of the network need${plugins.length > 1 ? '' : 's'}`
        : 'the network needs';
    return new UserError(`this kernel has no "${kind}" link type, which ${who} (ip ${argv.join(' ')}: ${r.stderr.trim()})`, {
      field: 'netconf',
      hint: `load its module (modprobe ${kind}) or use a kernel built with it; or run a network whose plugins use link types this kernel has`,
    });
  } finally {
    // the child goes with its parent
    if (parent) await ctx.exec('ip', ['link', 'del', parent], { allowFail: true });
  }
}

/** Which plugins of the network need each link type (for the message). */
function pluginsNeeding(network: NetworkView, kind: string): string[] {
  const by: Record<string, string[]> = { bridge: ['bridge'], veth: ['bridge', 'ptp'], ifb: ['bandwidth'] };
  const types = by[kind] ?? [kind];
  return network.binaries.filter((b) => types.includes(b));
}

/**
 * The user's network against its plugins: the spec version the file asks for must be one every plugin (and
 * every IPAM or delegate binary) answers VERSION with. libcni's ValidateNetworkList asks the plugins only;
 * the IPAM binary gets the same request through its plugin, so it is asked too.
 */
export async function versionProblems(ctx: Ctx, network: NetworkView, dirs: string[]): Promise<UserError[]> {
  if (network.cniVersion === '') return [];
  const cni = new CniRuntime({ pluginDirs: dirs, timeoutMs: Math.min(ctx.config.pluginTimeoutMs, 10_000) });
  const answers = await Promise.all(
    network.binaries.map(async (type) => {
      try {
        findInPath(type, dirs);
      } catch {
        return undefined; // reported as not found
      }
      try {
        return { type, versions: (await cni.getVersionInfo(type)).supportedVersions };
      } catch (e) {
        return { type, error: (e as Error).message };
      }
    }),
  );
  const known = answers.filter((a) => a !== undefined);
  const every = known
    .flatMap((a) => a.versions ?? [])
    .filter((v, i, all) => all.indexOf(v) === i && known.every((a) => a.versions?.includes(v)));
  const problems: UserError[] = [];
  for (const a of known) {
    if (a.error !== undefined) {
      problems.push(
        new UserError(`CNI plugin "${a.type}" did not answer VERSION: ${a.error}`, {
          field: 'netconf',
          hint: 'fix the plugin, or use another one',
        }),
      );
    } else if (!a.versions?.includes(network.cniVersion)) {
      problems.push(
        new UserError(
          `netconf: ${network.file}: cniVersion ${network.cniVersion} is not supported by plugin "${a.type}", which speaks ${a.versions?.join(', ') || 'no version'}`,
          {
            field: 'netconf',
            hint:
              every.length > 0
                ? `set "cniVersion" in the file to one every plugin speaks: ${every.join(', ')}`
                : 'the plugins share no spec version: use other plugins',
          },
        ),
      );
    }
  }
  return problems;
}

export async function installPackages(ctx: Ctx, packages: string[]): Promise<void> {
  ctx.log.info(`installing missing packages: ${packages.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await ctx.exec('apt-get', ['update', '-qq'], { env, timeoutMs: 600_000 });
  await ctx.exec('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env, timeoutMs: 900_000 });
}

/**
 * Reports every missing thing at once; installs missing packages through apt-get when allowed (never a
 * download of our own), then checks again.
 */
export async function preflight(ctx: Ctx): Promise<PreflightResult> {
  // the user's network first: a file that cannot be used is refused before anything is installed or probed
  const network = ctx.config.netconf !== '' ? loadNetconf(ctx.config.netconf, confFromFile).view : undefined;
  let missing = findMissing(ctx, network);
  if (missing.packages.size > 0 && ctx.config.install) {
    if (!whichCommand('apt-get')) {
      throw new UserErrors(missing.problems, 'missing prerequisites, and apt-get is not available to install them');
    }
    await installPackages(ctx, [...missing.packages].sort());
    missing = findMissing(ctx, network);
  }
  const pluginDirs = ctx.config.pluginDirs.filter((d) => existsSync(d));
  const cacheFile = path.join(ctx.config.imageCacheDir, 'preflight.json');
  const key = probeKey();
  const cached = readProbeCache(cacheFile, key);
  const kinds = network ? [...new Set([...network.linkKinds, ...(ctx.config.masterVeth ? ['veth'] : [])])] : ['bridge', 'veth'];
  const provenKinds = cached ? cachedKinds(cacheFile, key) : [];
  const unproven = kinds.filter((k) => !provenKinds.includes(k));
  // the user's network: its plugins' spec versions, and the link types the kernel has not yet been seen to make
  const networkChecks = network
    ? Promise.all([
        versionProblems(ctx, network, pluginDirs),
        Promise.all(unproven.map((k) => probeLinkKind(ctx, k, pluginsNeeding(network, k)))),
      ]).then(([v, k]) => [...v, ...k.filter((p): p is UserError => p !== undefined)])
    : Promise.resolve([]);
  networkChecks.catch(() => undefined);
  if (cached && missing.problems.length === 0 && (network !== undefined || unproven.length === 0)) {
    const problems = await networkChecks;
    if (problems.length === 1 && problems[0]) throw problems[0];
    if (problems.length > 1) throw new UserErrors(problems, 'host-setup preflight failed');
    // rewritten (with its fsyncs) only when this run proved a link type the cache did not know
    if (unproven.length > 0) writeProbeCache(cacheFile, key, cached, [...new Set([...provenKinds, ...kinds])]);
    return { tools: cached, pluginDirs, ...(network ? { network } : {}) };
  }
  // the version probes do not depend on the kernel probes: both run at once
  const versions = Promise.all(
    (
      [
        ['runc', ['--version']],
        ['umoci', ['--version']],
        ['ip', ['-V']],
        ['iptables', ['--version']],
      ] as const
    ).map(
      async ([cmd, args]) => [cmd, ((await ctx.exec(cmd, [...args], { allowFail: true })).stdout.split('\n')[0] ?? '').trim()] as const,
    ),
  ).catch(() => [] as (readonly [string, string])[]);
  // the generated network needs bridge and veth links; a user's network was probed for its own link types above
  const problems = [...missing.problems, ...(network ? [] : await checkKernel(ctx)), ...(await networkChecks)];
  if (problems.length > 0) {
    await versions;
    const pkgs = [...missing.packages].sort();
    const headline = pkgs.length
      ? `host-setup preflight failed (install with: apt-get install ${pkgs.join(' ')})`
      : 'host-setup preflight failed';
    if (problems.length === 1 && problems[0] && pkgs.length === 0) throw problems[0];
    throw new UserErrors(problems, headline);
  }
  const tools: Record<string, string> = Object.fromEntries(await versions);
  writeProbeCache(cacheFile, key, tools, [...new Set(['bridge', 'veth', ...provenKinds, ...kinds])]);
  return { tools, pluginDirs, ...(network ? { network } : {}) };
}

/**
 * What the kernel and version probes depend on: this boot (modules, kernel) and the exact tool binaries.
 * While it is unchanged the probes' outcome is reused, which saves ~8 processes on every later up.
 */
export function probeKey(): string {
  let boot = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
  const parts = [boot];
  for (const cmd of ['runc', 'umoci', 'ip', 'iptables']) {
    const file = whichCommand(cmd);
    if (!file) return '';
    const st = statSync(file);
    parts.push(`${file}:${st.size}:${st.mtimeMs}`);
  }
  return parts.join('|');
}

export function readProbeCache(file: string, key: string): Record<string, string> | undefined {
  if (!key) return undefined;
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as { key?: string; tools?: Record<string, string> };
    return c.key === key && c.tools ? c.tools : undefined;
  } catch {
    return undefined;
  }
}

/** The link types this boot's kernel was seen to make (bridge and veth for a cache written before types were kept). */
export function cachedKinds(file: string, key: string): string[] {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as { key?: string; kinds?: string[] };
    if (c.key !== key) return [];
    return Array.isArray(c.kinds) ? c.kinds : ['bridge', 'veth'];
  } catch {
    return [];
  }
}

/** Kept next to the image cache (it persists, the state folder must not); never creates that folder. */
export function writeProbeCache(file: string, key: string, tools: Record<string, string>, kinds: string[] = ['bridge', 'veth']): void {
  if (!key || !existsSync(path.dirname(file))) return;
  try {
    writeFileAtomic(file, `${JSON.stringify({ key, tools, kinds })}\n`, 0o600);
  } catch {
    /* a cache that cannot be written costs the probes next time, nothing more */
  }
}
