import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, readSysctl, UserError, UserErrors, writeFileAtomic } from '@cni-demo/core';

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
export const REQUIRED_PLUGINS = ['bridge', 'host-local', 'loopback'];
export const PLUGIN_PACKAGE = 'containernetworking-plugins';

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
}

/** Looks at everything at once so one run reports every missing thing. */
export function findMissing(ctx: Ctx): Missing {
  const packages = new Set<string>();
  const problems: UserError[] = [];
  for (const [cmd, pkg] of Object.entries(REQUIRED_COMMANDS)) {
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
  for (const plugin of REQUIRED_PLUGINS) {
    if (!dirs.some((d) => existsSync(path.join(d, plugin)))) {
      packages.add(PLUGIN_PACKAGE);
      problems.push(
        new UserError(`CNI plugin "${plugin}" not found in ${dirs.join(':')}`, {
          hint: `apt-get install ${PLUGIN_PACKAGE} (puts plugins in /usr/lib/cni), or point --plugin-dirs at your plugins`,
        }),
      );
    }
  }
  if (readSysctl('net.ipv6.conf.all.disable_ipv6') === '1') {
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
  let missing = findMissing(ctx);
  if (missing.packages.size > 0 && ctx.config.install) {
    if (!whichCommand('apt-get')) {
      throw new UserErrors(missing.problems, 'missing prerequisites, and apt-get is not available to install them');
    }
    await installPackages(ctx, [...missing.packages].sort());
    missing = findMissing(ctx);
  }
  const cacheFile = path.join(ctx.config.imageCacheDir, 'preflight.json');
  const key = probeKey();
  const cached = readProbeCache(cacheFile, key);
  if (cached && missing.problems.length === 0) return { tools: cached, pluginDirs: ctx.config.pluginDirs.filter((d) => existsSync(d)) };
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
  const problems = [...missing.problems, ...(await checkKernel(ctx))];
  if (problems.length > 0) {
    await versions;
    const pkgs = [...missing.packages].sort();
    const headline = pkgs.length
      ? `host-setup preflight failed (install with: apt-get install ${pkgs.join(' ')})`
      : 'host-setup preflight failed';
    throw new UserErrors(problems, headline);
  }
  const tools: Record<string, string> = Object.fromEntries(await versions);
  writeProbeCache(cacheFile, key, tools);
  return { tools, pluginDirs: ctx.config.pluginDirs.filter((d) => existsSync(d)) };
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

/** Kept next to the image cache (it persists, the state folder must not); never creates that folder. */
export function writeProbeCache(file: string, key: string, tools: Record<string, string>): void {
  if (!key || !existsSync(path.dirname(file))) return;
  try {
    writeFileAtomic(file, `${JSON.stringify({ key, tools })}\n`, 0o600);
  } catch {
    /* a cache that cannot be written costs the probes next time, nothing more */
  }
}
