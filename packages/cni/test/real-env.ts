// Shared setup for the suites that drive Debian's REAL plugins in /usr/lib/cni, as root, inside netns the
// test creates (prefix t3-). Everything is registered for cleanup before it is created, and the forwarding
// sysctls the bridge plugin turns on are held through the host record (see realEnv).
import { accessSync, constants, existsSync } from 'node:fs';
import { type Config, createExec, type Exec, removeSharedChainsWith, sharedChainsWith } from '@cni-demo/core';
import { type Cleanup, forceTeardown, holdForwarding, removeRoot, splitRule, tag, testConfig, testPrefix } from '@cni-demo/testkit';

export const exec: Exec = createExec();
export const PLUGIN_DIR = '/usr/lib/cni';

/** A missing prerequisite fails the suite (it must not pass by skipping). */
export function requirePrereqs(plugins: string[]): void {
  if (process.getuid?.() !== 0) throw new Error('integration tests need root (network namespaces, bridges, iptables)');
  for (const p of plugins) {
    const file = `${PLUGIN_DIR}/${p}`;
    if (!existsSync(file)) throw new Error(`${file} is missing: apt-get install containernetworking-plugins`);
    accessSync(file, constants.X_OK);
  }
}

export interface RealEnv {
  config: Config;
  /** container ids used, for the cleanup of rules that carry them in comments */
  ids: string[];
  newNetns: () => Promise<string>;
}

/**
 * Deletes every iptables/ip6tables rule mentioning one of `needles` (container ids in comments, our test
 * subnets), then the per-container chains those rules lived in or jumped to (CNI-<hash>, CNI-DN-<hash>).
 * Shared chains (CNI-HOSTPORT-*, CNI-FORWARD, CNI-ADMIN) are left to the last cleanup step (realEnv).
 */
export async function purgeRules(needles: string[]): Promise<void> {
  const perContainer = /^CNI-(DN-)?[0-9a-f]{20,}$/;
  for (const tool of ['iptables', 'ip6tables']) {
    for (const table of ['nat', 'filter', 'mangle']) {
      const save = await exec(`${tool}-save`, ['-t', table], { allowFail: true });
      if (save.exitCode !== 0) continue;
      const lines = save.stdout.split('\n').filter((l) => l.startsWith('-A '));
      const chains = new Set<string>();
      for (const l of lines) {
        if (!needles.some((n) => l.includes(n))) continue;
        const own = l.split(' ')[1] ?? '';
        if (perContainer.test(own)) chains.add(own);
        const jump = /-j (\S+)/.exec(l)?.[1];
        if (jump && perContainer.test(jump)) chains.add(jump);
      }
      for (const l of lines) {
        const own = l.split(' ')[1] ?? '';
        const jump = /-j (\S+)/.exec(l)?.[1] ?? '';
        if (!needles.some((n) => l.includes(n)) && !chains.has(jump)) continue;
        if (chains.has(own)) continue; // flushed below
        await exec(tool, ['-t', table, ...splitRule(l.replace(/^-A /, '-D '))], { allowFail: true });
      }
      for (const ch of chains) {
        await exec(tool, ['-t', table, '-F', ch], { allowFail: true });
        await exec(tool, ['-t', table, '-X', ch], { allowFail: true });
      }
    }
  }
}

/** iptables-save lines (both families, nat+filter) that mention any needle. */
export async function rulesMentioning(needles: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    for (const table of ['nat', 'filter']) {
      const s = await exec(tool, ['-t', table], { allowFail: true });
      out.push(...s.stdout.split('\n').filter((l) => l.startsWith('-A ') && needles.some((n) => l.includes(n))));
    }
  }
  return out;
}

export interface RealEnvOptions {
  /** testConfig's overrides */
  overrides?: Record<string, unknown>;
  /**
   * The plugins run in the suite's own network namespace, as a runtime on the host runs them (the default): the
   * bridge plugin's ADD turns the forwarding sysctls on there, so the test holds them through the host record
   * as the product's instances do (testkit's holdForwarding), and the last holder out puts them back. false for
   * a test whose plugins run in a namespace of their own (RuntimeOptions.hostNetns).
   */
  hostForwarding?: boolean;
}

export async function realEnv(c: Cleanup, opts: RealEnvOptions = {}): Promise<RealEnv> {
  const { root, config } = await testConfig(opts.overrides ?? {});
  // first, so that the leave comes last, after every DEL and the forced teardown
  if (opts.hostForwarding !== false) await holdForwarding(c, config);
  const ids: string[] = [];
  // portmap and firewall make shared chains on first use and never delete them: the ones this test made
  // go last, once every rule of the test is gone, so the host is left as found
  const chainsBefore = await sharedChainsWith(exec);
  c.add('shared chains this test made', async () => {
    await removeSharedChainsWith(exec, chainsBefore);
  });
  c.add('remove temp root', () => removeRoot(root));
  c.add('force teardown (bridge, veths, masq chains)', () => forceTeardown(config, exec, ids));
  c.add('iptables rules of this test', () =>
    purgeRules([...ids.map((id) => `"${id}"`), ...ids.map((id) => `\\"${id}\\"`), subnetNeedle4(config), subnetNeedle6(config)]),
  );
  const base = `${testPrefix('t3')}-${tag(2)}`;
  let n = 0;
  const newNetns = async () => {
    const name = `${base}-${n++}`;
    c.add(`netns ${name}`, async () => {
      await exec('ip', ['netns', 'del', name], { allowFail: true });
    });
    await exec('ip', ['netns', 'add', name]);
    return `/var/run/netns/${name}`;
  };
  return { config, ids, newNetns };
}

/** "172.20.77." for 172.20.77.0/24: the start of every address of the test subnet in iptables output. */
export const subnetNeedle4 = (c: Config) => `${c.subnet4.split('.').slice(0, 3).join('.')}.`;
export const subnetNeedle6 = (c: Config) => c.subnet6.replace(/::\/\d+$/, ':');
