import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseXml, xmlTexts } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderMermaid } from '../src/mermaid.js';
import { dpkgOwnersFromLists, latestTimings, pluginTypes } from '../src/report.js';
import { renderSvg } from '../src/svg.js';
import type { Iface, Topology } from '../src/topology.js';

const iface = (name: string, kind: string | undefined, addrs: string[], extra: Partial<Iface> = {}): Iface => ({
  name,
  ifindex: 1,
  kind,
  mac: '02:42:ac:11:00:02',
  up: true,
  mtu: 1500,
  master: undefined,
  addrs,
  peerIfindex: undefined,
  peerNetnsId: undefined,
  ...extra,
});

function topo(): Topology {
  return {
    readAt: '2026-01-01T00:00:00.000Z',
    bridge: iface('cbr<&>"x', 'bridge', ['10.9.0.1/24', 'fd00::1/64']),
    ports: [iface('veth1a2b', 'veth', [], { master: 'cbr<&>"x' }), iface('vethorphan', 'veth', [])],
    hostRoutes: [{ family: 4, dst: '10.9.0.0/24', gateway: undefined, dev: 'cbr<&>"x', scope: 'link', protocol: 'kernel' }],
    containers: [
      {
        containerId: "c'1",
        pin: '/var/run/netns/c1',
        interfaces: [iface('lo', undefined, ['127.0.0.1/8']), iface('eth0', 'veth', ['10.9.0.2/24'])],
        routes: [{ family: 4, dst: 'default', gateway: '10.9.0.1', dev: 'eth0', scope: undefined, protocol: undefined }],
      },
    ],
    veths: [{ containerId: "c'1", hostIf: 'veth1a2b', containerIf: 'eth0' }],
    mappings: [
      {
        protocol: 'tcp',
        hostIp: undefined,
        hostPort: 8080,
        containerIp: '10.9.0.2',
        containerPort: 80,
        chain: 'CNI-DN-abc',
        containerId: "c'1",
      },
    ],
  };
}

test('the SVG is well-formed XML and names every interface, even with characters XML must escape', () => {
  const t = topo();
  const root = parseXml(renderSvg(t, 'a & b'));
  assert.is(root.name, 'svg');
  assert.is(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
  const texts = xmlTexts(root).join('\n');
  for (const name of [
    'cbr<&>"x',
    'veth1a2b',
    'vethorphan',
    'lo',
    'eth0',
    '10.9.0.2/24',
    'fd00::1/64',
    "netns of c'1",
    '*:8080/tcp -> 10.9.0.2:80',
  ]) {
    assert.ok(texts.includes(name), `SVG text has ${name}`);
  }
});

test('an empty topology (nothing left on the host) still draws a valid SVG', () => {
  const t: Topology = { readAt: '', bridge: undefined, ports: [], hostRoutes: [], containers: [], veths: [], mappings: [] };
  const root = parseXml(renderSvg(t));
  assert.ok(xmlTexts(root).some((s) => s.includes('no bridge found')));
});

test('the xml checker refuses what is not well-formed', () => {
  const bad = [
    '<a><b></a></b>',
    '<a>x & y</a>',
    '<a x=1/>',
    '<a x="1" x="2"/>',
    '<a/><b/>',
    '<a>',
    'text<a/>',
    '<a>&bogus;</a>',
    '<a x="<"/>',
    '<a>\u0001</a>',
    '<a><!-- x -- y --></a>',
    '<a x="1"y="2"/>',
    '<?xml version="1.0"?><?xml version="1.0"?><a/>',
  ];
  for (const doc of bad) assert.throws(() => parseXml(doc), undefined, `refused: ${doc}`);
  const ok = parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><a q=\'1\'><b>&lt;&#65;&#x42;</b><![CDATA[<raw>]]></a>\n');
  assert.is(ok.children[0]?.text, '<AB');
  assert.is(ok.text, '<raw>');
});

test('the mermaid block links each veth pair across the netns boundary', () => {
  const m = renderMermaid(topo());
  assert.ok(m.startsWith('flowchart TB'));
  assert.match(m, /hv_veth1a2b ---\|veth pair\| ns_c_1_if_eth0/);
  // quotes and angle brackets become Mermaid entities so the label cannot end early
  assert.not.match(m, /cbr<&>"x/);
  assert.match(m, /cbr#lt;&#gt;#quot;x/);
});

test('latestTimings keeps this run: the newest of each step since the newest host-setup up, in start order', () => {
  const t = (step: string, startedAt: string, durationMs: number) => ({ step, action: 'up' as const, startedAt, durationMs, ok: true });
  const got = latestTimings([
    t('host-setup', '2026-01-01T00:00:00Z', 1),
    t('verify', '2026-01-01T00:00:02Z', 9),
    t('host-setup', '2026-01-01T00:00:05Z', 3),
    t('image-fetch', '2026-01-01T00:00:06Z', 2),
    t('image-fetch', '2026-01-01T00:00:07Z', 4),
  ]);
  assert.equal(
    got.map((x) => [x.step, x.durationMs]),
    [
      ['host-setup', 3],
      ['image-fetch', 4],
    ],
  );
  // a verify run alone later still counts: it is after the run's start
  assert.equal(latestTimings([t('verify', '2026-01-01T00:00:02Z', 9)]).length, 1);
});

test('pluginTypes lists each plugin and its ipam once, in order', () => {
  assert.equal(pluginTypes({ plugins: [{ type: 'bridge', ipam: { type: 'host-local' } }, { type: 'portmap' }, { type: 'bridge' }] }), [
    'bridge',
    'host-local',
    'portmap',
  ]);
  assert.equal(pluginTypes({}), []);
});

test('dpkgOwnersFromLists names the package of each file from CNI-looking lists only, arch suffix dropped', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verify-dpkg-'));
  try {
    writeFileSync(
      path.join(dir, 'containernetworking-plugins:amd64.list'),
      '/.\n/usr/lib/cni\n/usr/lib/cni/bridge\n/usr/lib/cni/host-local\n',
    );
    writeFileSync(path.join(dir, 'coreutils.list'), '/usr/lib/cni/portmap\n');
    writeFileSync(path.join(dir, 'containernetworking-plugins.md5sums'), 'x  usr/lib/cni/portmap\n');
    const owners = dpkgOwnersFromLists(['/usr/lib/cni/bridge', '/usr/lib/cni/portmap', '/usr/lib/cni/host'], dir);
    assert.equal([...owners], [['/usr/lib/cni/bridge', 'containernetworking-plugins']]);
    assert.equal(dpkgOwnersFromLists(['/usr/lib/cni/bridge'], path.join(dir, 'missing')).size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dpkgOwnersFromLists agrees with dpkg-query -S on this machine for the Debian plugins', () => {
  const bins = ['/usr/lib/cni/bridge', '/usr/lib/cni/host-local'];
  const r = spawnSync('dpkg-query', ['-S', ...bins], { encoding: 'utf8' });
  assert.is(r.status, 0, `dpkg-query -S failed (is containernetworking-plugins installed?): ${r.stderr}`);
  const expected = new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(l.indexOf(': ') + 2), l.split(':')[0] as string] as const),
  );
  assert.equal(dpkgOwnersFromLists(bins), expected);
});

test.run();
