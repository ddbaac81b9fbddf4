import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  attachmentsOf,
  bridgeMark,
  type CniAttachState,
  containerIds,
  createExec,
  getLink,
  isMountPoint,
  linkAlias,
  nodeList,
  type NodesState,
  podAddresses,
  readNode,
  routesPresent,
  type VerifyState,
} from '@cni-demo/core';
import {
  forceTeardown,
  hostSnapshot,
  ownSnapshotDiff,
  parseXml,
  removeRoot,
  runScript,
  testConfig,
  withCleanup,
  writeConfigFile,
  xmlTexts,
} from '@cni-demo/testkit';
import { auditLeaks, type Report, readStatus } from '@cni-demo/verify';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../../src/pipeline.js';

/**
 * Several nodes on this machine, for real: node namespaces joined by an underlay bridge, each with its own bridge
 * and pod subnets, containers on every node, host-gw routes between them, verify within each node and across
 * nodes, then a down that leaves the host as it was. Every name and subnet is the test's own (testkit).
 */
const exec = createExec();
const schema = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('@cni-demo/verify/report.schema.json'), 'utf8'));
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (
  a: Ajv,
) => Ajv;
const SYSCTLS = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'];
const inNode = (pin: string, ...argv: string[]) => exec('nsenter', [`--net=${pin}`, ...argv]);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/cni-demo.mjs');
/** testkit's forced teardown as a process, so it can run inside another network namespace. */
const teardownScript = () => path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'force-teardown.js');

/** Packets a counting rule (no target) saw: it is inserted first in the chain, inside a node of the test. */
async function counted(
  pin: string,
  tool: 'iptables' | 'ip6tables',
  chain: string,
  spec: string[],
  during: () => Promise<unknown>,
): Promise<number> {
  await inNode(pin, tool, '-w', '-I', chain, '1', ...spec);
  await during();
  const out = (await inNode(pin, tool, '-w', '-L', chain, '1', '-v', '-x', '-n')).stdout.trim();
  await inNode(pin, tool, '-w', '-D', chain, ...spec);
  return Number(out.split(/\s+/)[0]);
}

test('three nodes x two containers: nodes, underlay, bridges, routes; pods reach each other across nodes unmasqueraded; down leaves the host as found', async () => {
  const { root, config, ctx } = await testConfig({ nodes: 3, containers: 2 });
  const before = await hostSnapshot(exec, config);
  const nodes = nodeList(config);
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));

    await pipelineUp(ctx);

    // the underlay: our bridge on the host, marked, one veth per node on it; no pod bridge on the host
    const underlay = await getLink(exec, config.underlayBridge);
    assert.is(underlay?.kind, 'bridge');
    assert.is(linkAlias(config.underlayBridge), bridgeMark(config.id));
    const ports = (await exec('ip', ['-j', 'link', 'show', 'master', config.underlayBridge])).stdout;
    assert.equal((JSON.parse(ports) as { ifname: string }[]).map((p) => p.ifname).sort(), nodes.map((n) => n.hostVeth).sort());
    assert.not.ok(await getLink(exec, config.bridge), 'the pod bridges are in the nodes, not on the host');

    for (const n of nodes) {
      assert.ok(isMountPoint(n.pin), `${n.name} pinned at ${n.pin}`);
      const view = await readNode(exec, n.pin);
      const links = view?.links ?? [];
      const ul = links.find((l) => l.ifname === 'ul0');
      assert.ok(
        ul?.addrs.some((a) => a.local === n.underlay4) && ul.addrs.some((a) => a.local === n.underlay6),
        `${n.name} underlay addresses`,
      );
      const br = links.find((l) => l.ifname === config.bridge);
      assert.is(br?.kind, 'bridge', `${n.name} has its own bridge`);
      assert.ok(br?.addrs.some((a) => a.local === n.gateway4) && br.addrs.some((a) => a.local === n.gateway6), `${n.name} gateways`);
      const wanted = (ctx.state.read<NodesState>('nodes')?.nodes ?? []).find((x) => x.index === n.index)?.routes ?? [];
      assert.is(wanted.length, 4, 'a v4 and a v6 route to each of the two other nodes');
      assert.is(routesPresent(view?.routes ?? [], wanted).length, 4, `${n.name} has its routes to the other nodes`);
      for (const k of SYSCTLS) assert.is((await inNode(n.pin, 'sysctl', '-n', k)).stdout.trim(), '1', `${k} on inside ${n.name}`);
    }

    // containers on every node, each with the address its node's rule gives it
    const atts = attachmentsOf(ctx.state.read<CniAttachState>('cni-attach') as CniAttachState);
    assert.equal(
      atts.map((a) => a.containerId),
      containerIds(config),
    );
    for (const a of atts) {
      const k = Number(a.containerId.split('-').at(-1));
      const want = podAddresses(config, a.node ?? 0, k);
      assert.equal([a.ipv4, a.ipv6], [want.ipv4, want.ipv6], `${a.containerId} on node ${a.node}`);
    }

    // verify passed, with the cross-node pings: 3 x 2 ordered pairs of nodes, both families
    const v = ctx.state.read<VerifyState>('verify');
    assert.ok(v?.ok, `verify: ${v?.checks.filter((x) => !x.ok).map((x) => `${x.name}: ${x.detail}`)}`);
    assert.is(v?.crossNode?.length, 12);
    assert.ok(v?.crossNode?.every((p) => p.ok && p.from.node !== p.to.node));
    assert.ok(
      v?.checks.some((x) => x.name.startsWith('node 2: ')),
      'checks within each node',
    );

    // `cni-demo exec` reaches a node's container by its name: from node 2's first container to node 3's
    const file = writeConfigFile(root, config);
    const n3 = atts.find((a) => a.node === 3);
    const hop = await runScript('cli', 'cni-demo', [
      'exec',
      '--config',
      file,
      '--id',
      `${config.id}-n2-1`,
      '--',
      'ping',
      '-c1',
      '-W2',
      n3?.ipv4 ?? '',
    ]);
    assert.is(hop.code, 0, `cni-demo exec in ${config.id}-n2-1: ${hop.stderr}`);

    // between pods the source is kept (no masquerade): node 2 sees node 1's pod address arrive
    const [a1] = atts.filter((a) => a.node === 1);
    const [a2] = atts.filter((a) => a.node === 2);
    const n2 = nodes[1];
    assert.ok(a1 && a2 && n2);
    const v4pods = await counted(n2.pin, 'iptables', 'FORWARD', ['-s', `${a1?.ipv4}`, '-d', `${a2?.ipv4}`], () =>
      exec('nsenter', [`--net=${a1?.netns}`, 'ping', '-c1', '-W2', a2?.ipv4 ?? '']),
    );
    assert.ok(v4pods > 0, `node 2 forwarded ${a1?.ipv4} -> ${a2?.ipv4} with the pod's own source`);
    const v6pods = await counted(n2.pin, 'ip6tables', 'FORWARD', ['-s', `${a1?.ipv6}`, '-d', `${a2?.ipv6}`], () =>
      exec('nsenter', [`--net=${a1?.netns}`, 'ping', '-6', '-c1', '-W2', a2?.ipv6 ?? '']),
    );
    assert.ok(v6pods > 0, 'and over IPv6');
    // leaving the pod subnets, it is masqueraded: node 2 sees node 1's underlay address
    const beyond = await counted(n2.pin, 'iptables', 'INPUT', ['-s', nodes[0]?.underlay4 ?? '', '-p', 'icmp'], () =>
      exec('nsenter', [`--net=${a1?.netns}`, 'ping', '-c1', '-W2', n2.underlay4]),
    );
    assert.ok(beyond > 0, "to node 2's underlay address the pod's traffic leaves as node 1");

    // the report: schema-valid, nodes and underlay in the topology, the picture names them
    const report = JSON.parse(readFileSync(`${ctx.names.runDir}/report.json`, 'utf8')) as Report;
    const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
    assert.ok(ajv.validate(schema, report), JSON.stringify(ajv.errors));
    assert.is(report.topology.nodes?.length, 3);
    assert.is(report.topology.underlay?.ports.length, 3);
    assert.is(report.crossNode?.length, 12);
    assert.is(report.topology.veths.length, 6, "each container's veth found in its node");
    const svg = xmlTexts(parseXml(readFileSync(`${ctx.names.runDir}/topology.svg`, 'utf8'))).join('\n');
    for (const want of [
      config.underlayBridge,
      ...nodes.map((n) => `node ${n.index} ${n.name}`),
      nodes[2]?.underlay4 ?? '',
      `${nodes[1]?.subnet4} via ${nodes[1]?.underlay4}`,
    ]) {
      assert.ok(svg.includes(want), `the picture shows ${want}`);
    }
    assert.match(readFileSync(`${ctx.names.runDir}/report.md`, 'utf8'), /## Cross-node pings/);
    const status = await readStatus(ctx);
    assert.is(status.nodes?.length, 3);
    assert.is(status.nodes?.[0]?.routes.length, 4);
    assert.is(status.leases.length, 12, 'two leases per container, from the nodes own stores');

    // a second up changes nothing
    const nodeState = async () => Promise.all(nodes.map(async (n) => JSON.stringify(await readNode(exec, n.pin))));
    const upOnce = [await hostSnapshot(exec, config), await nodeState()] as const;
    await pipelineUp(ctx);
    assert.is(ownSnapshotDiff(upOnce[0], await hostSnapshot(exec, config), config), '', 'the host unchanged by a second up');
    assert.equal(await nodeState(), upOnce[1], 'the nodes unchanged by a second up');

    await pipelineDown(ctx);
    for (const n of nodes) assert.not.ok(isMountPoint(n.pin), `${n.name} unpinned`);
    assert.not.ok(await getLink(exec, config.underlayBridge), 'underlay bridge removed');
    for (const n of nodes) assert.not.ok(await getLink(exec, n.hostVeth), `${n.hostVeth} removed`);
    assert.equal(await auditLeaks(ctx), []);
    assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'host as found');
  });
});

test("forwarding is turned on inside the nodes only: a private 'host' namespace keeps it off through up and down", async () => {
  const { root, config } = await testConfig({ nodes: 2 });
  const file = writeConfigFile(root, config);
  const host = path.join(root, 'host-netns');
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('the private host namespace', async () => {
      while (isMountPoint(host)) await exec('umount', [host], { allowFail: true });
    });
    // everything inside the private namespace: the demo's "host" is it, so the bridges and routes it makes are too
    c.add('force teardown inside it', async () => {
      await exec('nsenter', [`--net=${host}`, process.execPath, teardownScript(), file], { allowFail: true });
    });
    writeFileSync(host, '');
    await exec('unshare', [`--net=${host}`, 'sysctl', '-qw', ...SYSCTLS.map((k) => `${k}=0`)]);
    const inHost = (...argv: string[]) => exec('nsenter', [`--net=${host}`, ...argv], { allowFail: true });
    const fwd = async () => Promise.all(SYSCTLS.map(async (k) => (await inHost('sysctl', '-n', k)).stdout.trim()));
    const up = await inHost(process.execPath, CLI, 'up', '--config', file);
    assert.is(up.exitCode, 0, up.stderr);
    assert.equal(await fwd(), ['0', '0'], "the 'host' keeps forwarding off");
    for (const n of nodeList(config)) {
      for (const k of SYSCTLS) assert.is((await inNode(n.pin, 'sysctl', '-n', k)).stdout.trim(), '1', `${k} on inside ${n.name}`);
    }
    const down = await inHost(process.execPath, CLI, 'down', '--config', file);
    assert.is(down.exitCode, 0, down.stderr);
    assert.equal(await fwd(), ['0', '0'], 'and after down');
    assert.is((await inHost('ip', '-o', 'link', 'show')).stdout.trim().split('\n').length, 1, "only the 'host's loopback is left");
  });
});

test('a down without --nodes still finds and removes the nodes an up with --nodes made', async () => {
  const { root, config, ctx } = await testConfig({ nodes: 2 });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    await pipelineUp(ctx);
    const one = { ...ctx, config: { ...config, nodes: 1 } };
    await pipelineDown(one);
    for (const n of nodeList(config)) assert.not.ok(isMountPoint(n.pin), `${n.name} unpinned`);
    assert.not.ok(await getLink(exec, config.underlayBridge));
    assert.equal(await auditLeaks(ctx), [], 'nothing left, as the audit with --nodes sees it');
  });
});

test.run();
