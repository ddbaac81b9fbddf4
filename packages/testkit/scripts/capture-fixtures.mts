// Captures the iptables fixtures the core suites parse (packages/core/test/host/iptables-fixtures.ts) from a real
// run of this host's CNI plugins, so a fixture described as the plugins' output is their output:
//
//   node packages/testkit/dist/scripts/capture-fixtures.mjs [--check]
//
// In a private network and mount namespace (nothing of it is seen on the host, and it dies with the process),
// the bridge plugin (ipMasq, host-local with both families) and portmap are run for two containers of the
// network "net1": c1 maps tcp 8080 -> 80 and tcp 8443 -> 443 on 127.0.0.1, c1-2 maps udp 5353 -> 53. Then
// `iptables-save -t nat` and `ip6tables-save -t nat` are noted, without their comment lines (dates, versions).
// Without --check the fixture file is written; with --check it is compared and the exit code says whether it is
// current (1 when it differs). Root only.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '../../../..');
export const FIXTURE = path.join(REPO, 'packages/core/test/host/iptables-fixtures.ts');
const PLUGINS = '/usr/lib/cni';

function run(argv: string[], o: { env?: Record<string, string>; input?: string } = {}): string {
  const [cmd = '', ...args] = argv;
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...o.env }, input: o.input });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A template literal holding `text` exactly (the formatter leaves those as they are). */
const literal = (text: string) => `\`${text.replaceAll('\\', '\\\\').replaceAll('`', '\\`').replaceAll('${', '\\${')}\``;

/** Inside the namespaces: the plugins' runs and the two saves, as the fixture module's text. */
function inside(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'capture-fixtures-'));
  try {
    run(['ip', 'link', 'set', 'lo', 'up']);
    const net = {
      cniVersion: '1.0.0',
      name: 'net1',
      type: 'bridge',
      bridge: 'cni-fx0',
      isGateway: true,
      ipMasq: true,
      ipam: {
        type: 'host-local',
        dataDir: path.join(root, 'leases'),
        ranges: [[{ subnet: '10.1.0.0/24', gateway: '10.1.0.1' }], [{ subnet: 'fd00:1::/64', gateway: 'fd00:1::1' }]],
      },
    };
    const containers = [
      {
        id: 'c1',
        mappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
          { hostPort: 8443, containerPort: 443, protocol: 'tcp', hostIP: '127.0.0.1' },
        ],
      },
      { id: 'c1-2', mappings: [{ hostPort: 5353, containerPort: 53, protocol: 'udp' }] },
    ];
    for (const c of containers) {
      const netns = path.join(root, c.id);
      writeFileSync(netns, '');
      run(['unshare', `--net=${netns}`, 'true']);
      const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: c.id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: PLUGINS };
      const result = JSON.parse(run([path.join(PLUGINS, 'bridge')], { env, input: JSON.stringify(net) }));
      const portmap = {
        cniVersion: '1.0.0',
        name: 'net1',
        type: 'portmap',
        capabilities: { portMappings: true },
        runtimeConfig: { portMappings: c.mappings },
        prevResult: result,
      };
      run([path.join(PLUGINS, 'portmap')], { env, input: JSON.stringify(portmap) });
    }
    const save = (tool: string) =>
      run([`${tool}-save`, '-t', 'nat'])
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'))
        .join('\n');
    const version = run(['dpkg-query', '-W', '-f', '${Version}', 'containernetworking-plugins']).trim();
    return [
      `// iptables-save -t nat and ip6tables-save -t nat after Debian's containernetworking-plugins ${version} (bridge with`,
      '// ipMasq and host-local, then portmap) ran for two containers of the network "net1": c1 maps tcp 8080 -> 80 and',
      '// tcp 8443 -> 443 on 127.0.0.1, c1-2 maps udp 5353 -> 53. Captured from that real run by',
      '// `node packages/testkit/dist/scripts/capture-fixtures.mjs` (root); do not edit, run it again.',
      '',
      `export const NAT4 = ${literal(save('iptables'))};`,
      '',
      `export const NAT6 = ${literal(save('ip6tables'))};`,
      '',
    ].join('\n');
  } finally {
    // the containers' netns are bind mounts in this private mount namespace: gone with it, but not removable before
    for (const id of ['c1', 'c1-2']) spawnSync('umount', [path.join(root, id)]);
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--inside') {
  process.stdout.write(inside());
} else {
  const check = process.argv.includes('--check');
  const text = run(['unshare', '--net', '--mount', process.execPath, fileURLToPath(import.meta.url), '--inside']);
  if (check) {
    let current = '';
    try {
      current = readFileSync(FIXTURE, 'utf8');
    } catch {
      /* missing: not current */
    }
    if (current !== text) {
      process.stderr.write(
        `${FIXTURE} is not what the plugins print now; regenerate it:\n  node ${path.relative(REPO, fileURLToPath(import.meta.url))}\n`,
      );
      process.exit(1);
    }
    process.stdout.write(`${FIXTURE} is current\n`);
  } else {
    mkdirSync(path.dirname(FIXTURE), { recursive: true });
    writeFileSync(FIXTURE, text);
    process.stdout.write(`wrote ${FIXTURE}\n`);
  }
}
