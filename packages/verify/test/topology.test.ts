import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createContext, createLogger, parseLinks, recordingExec, resolveConfig } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resultChecks } from '../src/result-checks.js';
import { readTopology, sharedNetnsReader, toIface } from '../src/topology.js';

test("a link becomes the report's interface: addresses as addr/len, with its veth peer index", () => {
  const text = JSON.stringify([
    {
      ifindex: 2,
      link_index: 31,
      ifname: 'eth0',
      flags: ['UP'],
      mtu: 1500,
      address: 'aa:bb:cc:dd:ee:ff',
      link_netnsid: 0,
      linkinfo: { info_kind: 'veth' },
      addr_info: [
        { family: 'inet', local: '10.0.0.2', prefixlen: 24 },
        { family: 'inet6', local: 'fd00::2', prefixlen: 64 },
      ],
    },
    { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK'] },
  ]);
  const got = parseLinks(text).map(toIface);
  assert.is(got[0]?.name, 'eth0');
  assert.is(got[0]?.kind, 'veth');
  assert.is(got[0]?.peerIfindex, 31);
  assert.equal(got[0]?.addrs, ['10.0.0.2/24', 'fd00::2/64']);
  assert.is(got[1]?.up, false);
  assert.equal(got[1]?.addrs, []);
});

test('the checks and the picture share one read of the netns: one ip process in it, one on the host', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verify-topo-'));
  try {
    writeFileSync(path.join(dir, 'c1'), '');
    const eth0 = {
      ifindex: 2,
      ifname: 'eth0',
      flags: ['UP'],
      linkinfo: { info_kind: 'veth' },
      addr_info: [{ family: 'inet', local: '10.9.0.2', prefixlen: 24 }],
    };
    const routes = [{ dst: 'default', gateway: '10.9.0.1', dev: 'eth0', table: 'main', flags: [] }];
    const exec = recordingExec((argv) =>
      argv.includes('-batch') ? { stdout: `${JSON.stringify([eth0])}\n${JSON.stringify(routes)}\n[]\n` } : undefined,
    );
    const { config } = resolveConfig({ env: { CNI_DEMO_ID: 'c1', CNI_DEMO_NETNS_DIR: dir } });
    const ctx = createContext(config, { exec, log: createLogger({ quiet: true }) });
    const read = sharedNetnsReader(exec);
    const result = { cniVersion: '1.0.0', ips: [{ address: '10.9.0.2/24' }], routes: [{ dst: '0.0.0.0/0', gw: '10.9.0.1' }] };
    const pin = path.join(dir, 'c1');
    const [rows, topo] = await Promise.all([
      resultChecks(
        ctx,
        { containerId: 'c1', netns: pin, result, ifname: 'eth0' },
        async () => ({ reachable: false, reason: 'test' }),
        undefined,
        read,
      ),
      readTopology(exec, config, 'nobridge', { portMappings: false, read }),
    ]);
    assert.ok(rows.find((r) => r.name === 'eth0 has 10.9.0.2/24')?.ok);
    assert.ok(rows.find((r) => r.name === 'route default via 10.9.0.1')?.ok);
    assert.equal(
      topo.containers[0]?.routes.map((r) => r.dst),
      ['default'],
    );
    assert.equal(exec.calls.map((c) => c.argv.join(' ')).sort(), ['ip -j -d -batch -', `nsenter --net=${pin} ip -j -d -batch -`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
