import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { acquireLock, type Config, createExec, flagName, names, nodeSubnets } from '@cni-demo/core';
import { hostSnapshot, ownSnapshotDiff, removeRoot, runScript, tag, testConfig, writeConfigFile } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The bad-input corpus: every case runs a real step process (or cni-demo) with one thing wrong and must exit
 * 2 when the command line or the config is wrong (nothing was tried) and 1 when the host or the state is, with
 * a message that names the problem, leaving the host's links, addresses, routes, iptables rules, sysctls,
 * mounts and the files under the instance's folders exactly as they were.
 */
const exec = createExec();

interface Env {
  root: string;
  config: Config;
  file: string;
}

interface Case {
  name: string;
  step: string;
  script?: string;
  /** arguments after --config <file> (or instead of it with noConfig) */
  args?: string[];
  env?: Record<string, string>;
  noConfig?: boolean;
  wrap?: string[];
  /** makes the bad situation; returns how to undo it. Runs before the "before" snapshot. */
  setup?: (e: Env) => Promise<(() => Promise<void>) | undefined> | void;
  /** every one of these must be in the message (case-insensitive) */
  expect: string[];
  /** the exit code: 2 for usage (flags, environment, config file), 1 for the host and the state */
  exit: 1 | 2;
  /** valid settings the test instance starts from (testConfig's), e.g. several nodes */
  overrides?: Record<string, unknown>;
}

/** Every config field as flags, for runs that cannot read the (root-only) config file. */
function flagsOf(config: Config): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(config)) {
    if (typeof v === 'boolean') out.push(v ? `--${flagName(k)}` : `--no-${flagName(k)}`);
    else out.push(`--${flagName(k)}`, Array.isArray(v) ? v.join(':') : String(v));
  }
  return out;
}

const writeState = (e: Env, step: string, text: string) => {
  const dir = names(e.config).runDir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, `${step}.json`), text, { mode: 0o600 });
};

/** A link in the way (this kernel has no dummy links: a bridge, or a veth pair for "not a bridge"). */
async function link(name: string, kind: 'bridge' | 'veth', addr?: string): Promise<() => Promise<void>> {
  await exec('ip', ['link', 'add', name, 'type', kind, ...(kind === 'veth' ? ['peer', 'name', `t5p${tag(2)}`] : [])]);
  if (addr) await exec('ip', ['addr', 'add', addr, 'dev', name]);
  return async () => {
    await exec('ip', ['link', 'del', name], { allowFail: true });
  };
}

const NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'];

const CASES: Case[] = [
  // flags
  {
    name: 'IPv4 subnet prefix out of range',
    step: 'host-setup',
    args: ['--subnet4', '10.0.0.0/33'],
    expect: ['subnet4', '10.0.0.0/33'],
    exit: 2,
  },
  { name: 'IPv4 subnet not a CIDR', step: 'host-setup', args: ['--subnet4', 'ten-dot-zero'], expect: ['subnet4', 'ten-dot-zero'], exit: 2 },
  {
    name: 'IPv4 subnet too small',
    step: 'host-setup',
    args: ['--subnet4', '10.9.9.0/31', '--gateway4', '10.9.9.1'],
    expect: ['subnet4', 'too small'],
    exit: 2,
  },
  {
    name: 'IPv4 gateway outside the subnet',
    step: 'host-setup',
    args: ['--gateway4', '10.255.255.1'],
    expect: ['gateway4', '10.255.255.1'],
    exit: 2,
  },
  { name: 'IPv6 subnet given an IPv4 CIDR', step: 'host-setup', args: ['--subnet6', '10.1.0.0/16'], expect: ['subnet6', 'IPv6'], exit: 2 },
  {
    name: 'IPv6 gateway outside the subnet',
    step: 'host-setup',
    args: ['--gateway6', 'fd99::1'],
    expect: ['gateway6', 'fd99::1'],
    exit: 2,
  },
  { name: 'container id with a slash', step: 'host-setup', args: ['--id', 'a/b'], expect: ['id', 'a/b'], exit: 2 },
  { name: 'container id too long', step: 'runc-bundle', args: ['--id', 'x'.repeat(49)], expect: ['id', 'at most 48'], exit: 2 },
  { name: 'network name with a space', step: 'cni-attach', args: ['--network', 'my net'], expect: ['network', 'my net'], exit: 2 },
  {
    name: 'bridge name longer than 15 bytes',
    step: 'host-setup',
    args: ['--bridge', 'averylongbridge0'],
    expect: ['bridge', '15'],
    exit: 2,
  },
  // names other tools would read as syntax: "+" an iptables wildcard (with --fix-forward, ACCEPT for every
  // bridge), quotes and "#" what ip -batch reads; each refused before anything is made
  {
    name: 'bridge name with "+" (an iptables wildcard) and --fix-forward',
    step: 'host-setup',
    args: ['--bridge', 'br+', '--fix-forward'],
    expect: ['bridge', 'br+', 'iptables wildcard'],
    exit: 2,
  },
  { name: 'bridge name with a quote', step: 'host-setup', args: ['--bridge', 'br"0'], expect: ['bridge', 'ip -batch'], exit: 2 },
  { name: 'bridge name with "#"', step: 'host-setup', args: ['--bridge', 'br#0'], expect: ['bridge', 'br#0'], exit: 2 },
  {
    name: 'network name of 266 characters',
    step: 'host-setup',
    args: ['--network', 'n'.repeat(266)],
    expect: ['network', 'at most 64'],
    exit: 2,
  },
  { name: 'ifname with a colon', step: 'cni-attach', args: ['--ifname', 'eth:0'], expect: ['ifname', 'eth:0'], exit: 2 },
  { name: 'unsupported cniVersion', step: 'host-setup', args: ['--cni-version', '9.9.9'], expect: ['cniVersion', '9.9.9'], exit: 2 },
  { name: 'zero containers', step: 'host-setup', args: ['--containers', '0'], expect: ['containers', '0'], exit: 2 },
  { name: 'containers not a number', step: 'host-setup', args: ['--containers', 'two'], expect: ['--containers', 'two'], exit: 2 },
  {
    name: 'plugin timeout not a whole number',
    step: 'cni-attach',
    args: ['--plugin-timeout-ms', '1.5'],
    expect: ['--plugin-timeout-ms', '1.5', 'whole number'],
    exit: 2,
  },
  { name: 'relative conf dir', step: 'host-setup', args: ['--conf-dir', 'etc/cni'], expect: ['confDir', 'absolute'], exit: 2 },
  {
    name: 'no plugin dir',
    step: 'host-setup',
    args: ['--plugin-dirs', ''],
    expect: ['pluginDirs', 'at least one directory'],
    exit: 2,
  },
  { name: 'negative lock wait', step: 'verify', args: ['--lock-wait-ms', '-1'], expect: ['lockWaitMs', '-1'], exit: 2 },
  {
    name: 'plugin timeout past the timer limit',
    step: 'cni-attach',
    args: ['--plugin-timeout-ms', '3000000000'],
    expect: ['pluginTimeoutMs', '3000000000', '2147483647'],
    exit: 2,
  },
  {
    name: 'plugin timeout zero',
    step: 'cni-attach',
    args: ['--plugin-timeout-ms', '0'],
    expect: ['pluginTimeoutMs', 'from 1 to 2147483647'],
    exit: 2,
  },
  {
    name: 'plugin timeout negative (it would turn the timeout off)',
    step: 'cni-attach',
    env: { CNI_DEMO_PLUGIN_TIMEOUT_MS: '-1' },
    expect: ['pluginTimeoutMs', '-1', 'from 1 to 2147483647'],
    exit: 2,
  },
  {
    name: 'lock wait past the timer limit',
    step: 'verify',
    args: ['--lock-wait-ms', '2147483648'],
    expect: ['lockWaitMs', '2147483647'],
    exit: 2,
  },
  {
    name: 'container log cap too small',
    step: 'runc-bundle',
    args: ['--container-log-max-bytes', '100'],
    expect: ['containerLogMaxBytes', '65536'],
    exit: 2,
  },
  {
    name: 'unknown flag with a suggestion',
    step: 'host-setup',
    args: ['--subnet', '10.0.0.0/24'],
    expect: ['--subnet', 'did you mean'],
    exit: 2,
  },
  { name: 'flag missing its value', step: 'host-setup', args: ['--subnet4'], expect: ['--subnet4 needs a value'], exit: 2 },
  { name: 'bool flag given a word', step: 'host-setup', args: ['--verbose=perhaps'], expect: ['--verbose', 'perhaps'], exit: 2 },
  { name: 'stray positional argument', step: 'image-fetch', args: ['busybox'], expect: ['unexpected argument', 'busybox'], exit: 2 },
  {
    name: '--config without a file',
    step: 'host-setup',
    noConfig: true,
    args: ['--config'],
    expect: ['--config needs a file path'],
    exit: 2,
  },
  // environment
  { name: 'env: IPv4 subnet garbage', step: 'host-setup', env: { CNI_DEMO_SUBNET4: 'garbage' }, expect: ['subnet4', 'garbage'], exit: 2 },
  {
    name: 'env: unknown CNI_DEMO_ variable',
    step: 'host-setup',
    env: { CNI_DEMO_SUBNET: '10.0.0.0/24' },
    expect: ['CNI_DEMO_SUBNET', 'did you mean'],
    exit: 2,
  },
  {
    name: 'env: bool not true/false',
    step: 'host-setup',
    env: { CNI_DEMO_IP_MASQ: 'maybe' },
    expect: ['CNI_DEMO_IP_MASQ', 'maybe'],
    exit: 2,
  },
  {
    name: 'env: int not a number',
    step: 'runc-bundle',
    env: { CNI_DEMO_CONTAINERS: 'many' },
    expect: ['CNI_DEMO_CONTAINERS', 'many'],
    exit: 2,
  },
  {
    name: 'env: config file that does not exist',
    step: 'host-setup',
    noConfig: true,
    env: { CNI_DEMO_CONFIG: '/nonexistent/cni-demo.json' },
    expect: ['/nonexistent/cni-demo.json', 'cannot be read'],
    exit: 2,
  },
  // config files
  {
    name: 'config file with a trailing comma',
    step: 'host-setup',
    noConfig: true,
    setup: (e) => void writeFileSync(path.join(e.root, 'bad.json'), '{"subnet4": "10.0.0.0/24",}'),
    args: ['--config', 'BAD'],
    expect: ['not valid JSON'],
    exit: 2,
  },
  {
    name: 'config file holding an array',
    step: 'host-setup',
    noConfig: true,
    setup: (e) => void writeFileSync(path.join(e.root, 'bad.json'), '[1,2]'),
    args: ['--config', 'BAD'],
    expect: ['JSON object'],
    exit: 2,
  },
  {
    name: 'config file with an unknown key',
    step: 'host-setup',
    noConfig: true,
    setup: (e) => void writeFileSync(path.join(e.root, 'bad.json'), '{"subnet": "10.0.0.0/24"}'),
    args: ['--config', 'BAD'],
    expect: ['unknown key "subnet"', 'subnet4'],
    exit: 2,
  },
  {
    name: 'config file with a wrong type',
    step: 'host-setup',
    noConfig: true,
    setup: (e) => void writeFileSync(path.join(e.root, 'bad.json'), '{"containers": "3"}'),
    args: ['--config', 'BAD'],
    expect: ['"containers"', 'whole number'],
    exit: 2,
  },
  // missing previous steps and state files
  { name: 'runc-bundle before image-fetch', step: 'runc-bundle', expect: ['needs image-fetch', 'run image-fetch first'], exit: 1 },
  { name: 'cni-attach before host-setup', step: 'cni-attach', expect: ['needs host-setup'], exit: 1 },
  { name: 'verify before anything', step: 'verify', expect: ['needs host-setup'], exit: 1 },
  {
    name: 'corrupt host-setup state',
    step: 'cni-attach',
    setup: (e) => void writeState(e, 'host-setup', '{"bridge": '),
    expect: ['host-setup.json', 'corrupt'],
    exit: 1,
  },
  {
    name: 'corrupt image-fetch state',
    step: 'runc-bundle',
    setup: (e) => void writeState(e, 'image-fetch', '\u0000\u0000'),
    expect: ['image-fetch.json', 'corrupt'],
    exit: 1,
  },
  // malformed, so it is refused with the config before any lookup (a test never reaches a registry off this
  // machine) and before host-setup, which runs alongside image-fetch, has made anything
  {
    name: 'malformed image reference',
    step: 'image-fetch',
    args: ['--image', 'Debian:12'],
    expect: ['image', 'Debian:12', 'not a valid reference', 'lowercase', 'name[:tag]'],
    exit: 2,
  },
  {
    name: 'malformed image reference: host-setup refuses it too, before the bridge',
    step: 'host-setup',
    args: ['--image', 'busybox:1:2'],
    expect: ['image', 'busybox:1:2', 'not a valid repository name'],
    exit: 2,
  },
  {
    name: 'cni-demo up: malformed image reference',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['up', '--config', 'FILE', '--image', 'oci:'],
    expect: ['image', '"oci:"', 'needs a path', '--image'],
    exit: 2,
  },
  // the host
  {
    name: 'no CNI plugins in the plugin dirs',
    step: 'host-setup',
    args: ['--plugin-dirs', '/nonexistent/cni', '--no-install'],
    expect: ['plugin "bridge" not found', '/nonexistent/cni'],
    exit: 1,
  },
  {
    name: 'subnet overlapping a host route',
    step: 'host-setup',
    setup: (e) => link(`t5o${tag(2)}`, 'bridge', `${e.config.gateway4.replace(/\.1$/, '.77')}/28`),
    expect: ['overlaps the host route', 'subnet4'],
    exit: 1,
  },
  {
    name: 'a non-bridge link has the bridge name',
    step: 'host-setup',
    setup: (e) => link(e.config.bridge, 'veth'),
    expect: ['veth link', 'already exists'],
    exit: 1,
  },
  {
    name: 'a bridge with other addresses has the bridge name',
    step: 'host-setup',
    setup: async (e) => {
      await exec('ip', ['link', 'add', e.config.bridge, 'type', 'bridge']);
      await exec('ip', ['addr', 'add', `${e.config.gateway4.replace(/\.1$/, '.9')}/24`, 'dev', e.config.bridge]);
      return async () => void (await exec('ip', ['link', 'del', e.config.bridge], { allowFail: true }));
    },
    expect: ['already exists with addresses', 'not ['],
    exit: 1,
  },
  {
    name: 'a different network config file is in the way',
    step: 'host-setup',
    setup: (e) => {
      mkdirSync(e.config.confDir, { recursive: true });
      writeFileSync(names(e.config).confFile, '{"cniVersion":"0.4.0","name":"other","plugins":[]}');
    },
    expect: ['already exists with a different network config'],
    exit: 1,
  },
  // several nodes
  { name: 'zero nodes', step: 'host-setup', args: ['--nodes', '0'], exit: 2, expect: ['nodes', '0', 'use 1 or more'] },
  { name: 'a negative node count', step: 'nodes', args: ['--nodes', '-2'], exit: 2, expect: ['nodes', '-2', 'use 1 or more'] },
  {
    name: 'more nodes than the subnets can be split into',
    step: 'host-setup',
    args: ['--nodes', '5000'],
    exit: 2,
    expect: ['nodes', '5000 nodes do not fit', 'use at most'],
  },
  {
    name: 'more nodes than the underlay holds',
    step: 'host-setup',
    // the instance's pod subnets chosen for 30 nodes, so only the underlay is too small (a random /24 high in
    // the test /16 would leave no room for 30 pod subnets, and that problem would be the one reported)
    overrides: { nodes: 30 },
    args: ['--nodes', '30', '--underlay-subnet', '10.254.77.0/27'],
    exit: 2,
    expect: ['nodes', 'underlay 10.254.77.0/27', 'use at most 20 nodes'],
  },
  {
    name: 'several nodes with rootless',
    step: 'host-setup',
    args: ['--nodes', '2', '--rootless'],
    exit: 2,
    expect: ['nodes', 'rootless', '--nodes 1'],
  },
  {
    name: 'several nodes with a network file of your own',
    step: 'host-setup',
    args: ['--nodes', '2', '--netconf', 'NETCONF'],
    exit: 2,
    setup: (e) =>
      void writeFileSync(path.join(e.root, 'mine.conflist'), '{"cniVersion":"1.0.0","name":"mine","plugins":[{"type":"bridge"}]}'),
    expect: ['nodes', '--netconf', '--nodes 1'],
  },
  {
    name: 'the underlay overlapping a pod subnet',
    step: 'host-setup',
    args: ['--nodes', '2', '--underlay-subnet', 'POD4'],
    exit: 2,
    expect: ['underlaySubnet', "overlaps node 1's pod subnet"],
  },
  {
    name: 'the underlay overlapping a host route',
    step: 'host-setup',
    overrides: { nodes: 2 },
    setup: (e) => link(`t5o${tag(2)}`, 'bridge', `${e.config.underlaySubnet.replace(/\.0\/24$/, '.77')}/28`),
    exit: 1,
    expect: ['underlay subnet', 'overlaps the host route', '--underlay-subnet'],
  },
  {
    name: "node 2's pod subnet overlapping a host route",
    step: 'host-setup',
    overrides: { nodes: 2 },
    setup: (e) => link(`t5o${tag(2)}`, 'bridge', `${nodeSubnets(e.config, 2).gateway4.replace(/\.1$/, '.77')}/28`),
    exit: 1,
    expect: ["node 2's subnet", 'overlaps the host route', 'subnet4'],
  },
  {
    name: 'the underlay bridge name held by a link this instance did not make',
    step: 'host-setup',
    overrides: { nodes: 2 },
    setup: (e) => link(e.config.underlayBridge, 'bridge'),
    exit: 1,
    expect: ['--underlay-bridge', 'already exists and was not made by this instance'],
  },
  {
    name: 'a VM whose underlay address is on none of its interfaces',
    step: 'host-setup',
    overrides: { nodes: 3, nodeIndex: 2 },
    exit: 1,
    expect: ['--underlay-subnet', "node 2's underlay address", 'on no interface', '--node-index'],
  },
  // who and when
  {
    name: 'up as a non-root user',
    step: 'host-setup',
    noConfig: true,
    wrap: NOBODY,
    args: ['FLAGS'],
    expect: ['must run as root'],
    exit: 1,
  },
  {
    name: 'down as a non-root user',
    step: 'cni-attach',
    script: 'down',
    noConfig: true,
    wrap: NOBODY,
    args: ['FLAGS'],
    expect: ['must run as root'],
    exit: 1,
  },
  {
    name: 'the instance is locked by a live run',
    step: 'host-setup',
    args: ['--lock-wait-ms', '0'],
    setup: async (e) => {
      const release = await acquireLock(names(e.config).lockFile);
      return async () => release();
    },
    expect: ['in use by process', String(process.pid)],
    exit: 1,
  },
  // the cni-demo command (FILE stands for the test's config file)
  {
    name: 'cni-demo: unknown command',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['updown'],
    expect: ['unknown command "updown"', 'up, down, status, exec, logs'],
    exit: 2,
  },
  {
    name: 'cni-demo: an option where the command goes',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['--bridge', 'br1'],
    expect: ['--bridge is not a command', 'cni-demo up --bridge br1'],
    exit: 2,
  },
  {
    name: 'cni-demo up: unknown flag',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['up', '--config', 'FILE', '--bridg', 'x'],
    expect: ['unknown option --bridg', 'did you mean --bridge'],
    exit: 2,
  },
  {
    name: 'cni-demo status: flag without its value',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['status', '--config', 'FILE', '--id'],
    expect: ['--id needs a value'],
    exit: 2,
  },
  {
    name: 'cni-demo exec: the command without --',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['exec', '--config', 'FILE', 'ip', 'a'],
    expect: ['"ip": the command to run goes after --', '-- ip a'],
    exit: 2,
  },
  {
    name: 'cni-demo exec: nothing after --',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['exec', '--config', 'FILE', '--'],
    expect: ['exec needs the command to run after --', 'cni-demo exec -- ip a'],
    exit: 2,
  },
  {
    name: 'cni-demo exec: unknown flag',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['exec', '--config', 'FILE', '--idd', 'x', '--', 'ip', 'a'],
    expect: ['unknown option --idd', 'did you mean --id'],
    exit: 2,
  },
  {
    name: 'cni-demo exec: flag without its value',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['exec', '--config', 'FILE', '--id', '--', 'ip', 'a'],
    expect: ['--id needs a value'],
    exit: 2,
  },
  {
    name: 'cni-demo logs: a stray argument',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['logs', '--config', 'FILE', 'web'],
    expect: ['unexpected argument "web"', 'cni-demo logs --id'],
    exit: 2,
  },
  {
    name: 'cni-demo exec: an instance of several containers, none named',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['exec', '--config', 'FILE', '--', 'ip', 'a'],
    setup: (e) => void writeState(e, 'runc-bundle', JSON.stringify(bundleState(e, [`${e.config.id}-1`, `${e.config.id}-2`]))),
    expect: ['runs 2 containers', '--id t-'],
    exit: 2,
  },
  {
    name: 'cni-demo exec: an id that is not running',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['exec', '--config', 'FILE', '--', 'ip', 'a'],
    expect: ['no container "t-', 'cni-demo up --id t-'],
    exit: 1,
  },
  {
    name: 'cni-demo logs: an id that is not running',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['logs', '--config', 'FILE'],
    expect: ['no container "t-', 'cni-demo up --id t-'],
    exit: 1,
  },
  {
    name: 'cni-demo exec: a container runc does not know (state left, container gone)',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    args: ['exec', '--config', 'FILE', '--', 'ip', 'a'],
    setup: (e) => void writeState(e, 'runc-bundle', JSON.stringify(bundleState(e, [e.config.id]))),
    expect: ['is not known to runc, not running', 'cni-demo down --id'],
    exit: 1,
  },
  {
    name: 'cni-demo exec as a non-root user',
    step: 'cli',
    script: 'cni-demo',
    noConfig: true,
    wrap: NOBODY,
    args: ['exec', 'FLAGS', '--', 'ip', 'a'],
    expect: ['must run as root'],
    exit: 1,
  },
];

/** A runc-bundle state naming containers that do not exist (the instance's run folder left behind). */
function bundleState(e: Env, ids: string[]) {
  const containers = ids.map((containerId) => ({
    containerId,
    bundleDir: path.join(names(e.config).runDir, 'containers', containerId, 'bundle'),
    pid: 1,
    netnsPath: path.join(e.config.netnsDir, containerId),
    rootfsDir: path.join(e.config.imageCacheDir, 'rootfs'),
  }));
  const first = containers[0];
  return { ...first, runcRoot: e.config.runcRoot, containers };
}

for (const c of CASES) {
  test(`bad input: ${c.name}`, async () => {
    const { root, config } = await testConfig(c.overrides ?? {});
    const file = writeConfigFile(root, config);
    const env: Env = { root, config, file };
    let undo: (() => Promise<void>) | undefined;
    try {
      undo = (await c.setup?.(env)) ?? undefined;
      const before = await hostSnapshot(exec, config);
      const args = (c.args ?? []).flatMap((a) =>
        a === 'BAD'
          ? [path.join(root, 'bad.json')]
          : a === 'FLAGS'
            ? flagsOf(config)
            : a === 'FILE'
              ? [file]
              : a === 'NETCONF'
                ? [path.join(root, 'mine.conflist')]
                : a === 'POD4'
                  ? [config.subnet4]
                  : [a],
      );
      const argv = c.noConfig ? args : ['--config', file, ...args];
      const r = await runScript(c.step, c.script ?? 'up', argv, { env: c.env ?? {}, wrap: c.wrap ?? [] });
      const msg = r.stderr + r.stdout;
      assert.is(r.signal, null, `not killed: ${msg}`);
      assert.is(r.code, c.exit, `exit code ${c.exit}: ${msg}`);
      for (const want of c.expect) assert.ok(msg.toLowerCase().includes(want.toLowerCase()), `message names "${want}":\n${msg}`);
      assert.ok(/error: /.test(msg) && !/\n\s+at /.test(msg), `one clear message, no stack:\n${msg}`);
      // a step that ran and failed appends its timing for the report, to a run folder that already exists (here
      // the one holding the corrupt state): that line is the only write allowed, and never a new folder
      const timings = `files + ${path.join(names(config).runDir, 'timings.jsonl')}`;
      const diff = ownSnapshotDiff(before, await hostSnapshot(exec, config), config)
        .split('\n')
        .filter((l) => l !== '' && !(l === timings && before.files?.includes(`${names(config).runDir}/`)));
      assert.equal(diff, [], 'host unchanged: links, addresses, routes, iptables, sysctls, mounts, files');
    } finally {
      await undo?.();
      removeRoot(root);
    }
  });
}

test('the corpus has at least 30 cases', () => {
  assert.ok(CASES.length >= 30, `${CASES.length} cases`);
});

test.run();
