import { type Config, names } from '@cni-demo/core';
import {
  forceTeardown,
  FORWARDING_OFF,
  type HostSnapshot,
  observedSnapshot,
  pluginNames,
  privateNetns,
  removeRoot,
  snapshotDiff,
  testConfig,
  withCleanup,
  writeConfigFile,
  cliArgv,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The whole demo with port mapping and the firewall plugin, inside a private network namespace: there the
 * test owns every host-wide object (the portmap and firewall plugins' shared chains and the jumps to them, the
 * forwarding and net.bridge sysctls, the mounts, every file under the instance's folders), so the comparison
 * is the full snapshot, with no filter for other developers' tests, and from a start the test chose (no
 * shared chain there, forwarding off).
 */
const up = (file: string) => cliArgv('up', file);
const down = (file: string) => cliArgv('down', file);
const LO_UP = ['ip', 'link', 'set', 'lo', 'up'];

const snap = observedSnapshot;
const sharedChains = (s: HostSnapshot) =>
  `${s.iptables}\n${s.ip6tables}`.split('\n').filter((l) => /^(nat|filter) :CNI-(HOSTPORT-(DNAT|MASQ|SETMARK)|FORWARD|ADMIN) /.test(l));

async function instance(portMap: string): Promise<{ root: string; config: Config; file: string }> {
  const { root, config } = await testConfig({ portMap, firewall: 'on' });
  return { root, config, file: writeConfigFile(root, config) };
}

test('port mapping and the firewall plugin in a private netns: down leaves the netns exactly as found, shared chains and their jumps included', async () => {
  const hostPort = 18400 + Math.floor(Math.random() * 100);
  const a = await instance(`${hostPort}:80/tcp`);
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(a.root));
    cl.add('force teardown', () => forceTeardown(a.config));
    const ns = await privateNetns(cl);
    const obs = await ns.run({
      watch: [],
      snapshot: a.config,
      steps: [
        { label: 'set', set: FORWARDING_OFF, run: LO_UP },
        { label: 'up', run: up(a.file) },
        { label: 'down', run: down(a.file) },
      ],
    });
    const start = snap(obs, 'set');
    const upped = snap(obs, 'up');
    assert.equal(sharedChains(start), [], 'no shared chain at the start');
    assert.equal(
      sharedChains(upped).sort(),
      [
        'filter :CNI-ADMIN -',
        'filter :CNI-FORWARD -',
        'nat :CNI-HOSTPORT-DNAT -',
        'nat :CNI-HOSTPORT-MASQ -',
        'nat :CNI-HOSTPORT-SETMARK -',
      ].flatMap((l) => [l, l]),
      'portmap and firewall made their shared chains in iptables and ip6tables',
    );
    const mine = pluginNames(a.config.network, a.config.id);
    assert.match(upped.iptables ?? '', new RegExp(`^nat :${mine.dnatChain} -$`, 'm'), 'the mapping’s DNAT chain');
    assert.match(upped.files ?? '', new RegExp(`^${names(a.config).confFile}$`, 'm'), 'the network config was written');
    assert.is(snapshotDiff(start, snap(obs, 'down')), '', 'links, addresses, routes, iptables, sysctls, mounts and files as at the start');
  });
});

test('two instances with port mappings in a private netns: the shared chains stay while one still maps a port, and go with the last', async () => {
  const base = 18500 + Math.floor(Math.random() * 100);
  const a = await instance(`${base}:80/tcp`);
  const b = await instance(`${base + 100}:80/tcp`);
  await withCleanup(async (cl) => {
    for (const x of [a, b]) {
      cl.add('remove temp root', () => removeRoot(x.root));
      cl.add('force teardown', () => forceTeardown(x.config));
    }
    const ns = await privateNetns(cl);
    const obs = await ns.run({
      watch: [],
      snapshot: a.config,
      steps: [
        { label: 'set', set: FORWARDING_OFF, run: LO_UP },
        { label: 'a up', run: up(a.file) },
        { label: 'b up', run: up(b.file) },
        { label: 'a down', run: down(a.file) },
        { label: 'b down', run: down(b.file) },
      ],
    });
    assert.is(sharedChains(snap(obs, 'a down')).length, 10, 'b still maps a port: every shared chain stays');
    assert.match(snap(obs, 'a down').iptables ?? '', /^nat -A PREROUTING .*-j CNI-HOSTPORT-DNAT$/m, 'and the jump to it');
    assert.match(snap(obs, 'a down').iptables ?? '', /^filter -A FORWARD .*-j CNI-FORWARD$/m, 'and the jump to CNI-FORWARD');
    const start = snap(obs, 'set');
    const end = snap(obs, 'b down');
    assert.is(snapshotDiff(start, end), '', 'the last one out left the netns as found');
  });
});

test.run();
