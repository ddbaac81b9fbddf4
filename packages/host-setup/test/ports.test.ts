import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createContext, createExec, createLogger, getLink, recordingExec, UserError, UserErrors } from '@cni-demo/core';
import { forceTeardown, removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildNetConf, hostPortProblems, privilegedPortProblem, removeSharedChains } from '../src/index.js';
import { up } from '../src/up.js';

const exec = createExec();
const port = () => 18400 + Math.floor(Math.random() * 100);

test('netconf: portmap chained after bridge with the portMappings capability; firewall only when asked', async () => {
  const { root, config } = await testConfig({ portMap: '18401:80/tcp' });
  removeRoot(root);
  const plain = buildNetConf(config) as { plugins: { type: string; capabilities?: unknown; snat?: boolean }[] };
  assert.equal(
    plain.plugins.map((p) => p.type),
    ['bridge', 'portmap'],
  );
  assert.equal(plain.plugins[1]?.capabilities, { portMappings: true });
  assert.is(plain.plugins[1]?.snat, true);
  const fw = buildNetConf(config, { firewall: true }) as { plugins: { type: string }[] };
  assert.equal(
    fw.plugins.map((p) => p.type),
    ['bridge', 'firewall', 'portmap'],
  );
  const { root: r2, config: none } = await testConfig();
  removeRoot(r2);
  assert.equal(
    (buildNetConf(none) as { plugins: { type: string }[] }).plugins.map((p) => p.type),
    ['bridge'],
  );
});

test('a privileged host port without root is refused; root may use it', () => {
  const m = { hostPort: 80, containerPort: 80, protocol: 'tcp' as const };
  assert.match(privilegedPortProblem(m, 1000, 1024) ?? '', /below 1024/);
  assert.is(privilegedPortProblem(m, 0, 1024), undefined);
  assert.is(privilegedPortProblem({ ...m, hostPort: 8080 }, 1000, 1024), undefined);
});

test('hostPortProblems: a privileged port for a non-root user names portMap', async () => {
  const { root, ctx } = await testConfig({ portMap: '80:80/tcp' });
  removeRoot(root);
  const problems = await hostPortProblems(ctx, 1000);
  assert.is(problems.length, 1);
  assert.is(problems[0]?.field, 'portMap');
});

test('host-setup refuses a host port already in use before it creates anything', async () => {
  const p = port();
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(p, '0.0.0.0', res));
  const { root, config, ctx } = await testConfig({ portMap: `${p}:80/tcp` });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    c.add('close listener', () => new Promise<void>((res) => srv.close(() => res())));
    let err: unknown;
    try {
      await up(ctx);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof UserError && !(err instanceof UserErrors), `a single UserError: ${String(err)}`);
    assert.is((err as UserError).field, 'portMap');
    assert.match((err as UserError).message, new RegExp(`${p}/tcp is already in use`));
    assert.not.ok(await getLink(exec, config.bridge), 'no bridge made');
    assert.not.ok(existsSync(path.join(config.confDir, `10-${config.network}.conflist`)), 'no network config written');
    assert.not.ok(existsSync(path.join(config.stateDir, config.id, 'host-setup.json')), 'no state written');
  });
});

const NAT_AFTER_DEL = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-MASQ - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
COMMIT`;

test('removeSharedChains: jumps, then flush, then delete, for chains the demo made; kept when found before or in use', async () => {
  const { root, config } = await testConfig({ portMap: '18401:80/tcp' });
  removeRoot(root);
  const run = async (nat: string, before: string[]) => {
    const rec = recordingExec((argv) => (argv[0] === 'iptables-save' && argv.includes('nat') ? { stdout: nat } : { stdout: '' }));
    const ctx = createContext(config, { exec: rec, log: createLogger({ quiet: true }) });
    const removed = await removeSharedChains(ctx, before);
    return { removed, calls: rec.calls.map((c) => c.argv).filter((a) => a[0] === 'iptables') };
  };
  const { removed, calls } = await run(NAT_AFTER_DEL, []);
  assert.equal(calls[0], ['iptables', '-t', 'nat', '-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']);
  assert.equal(calls[2], [
    'iptables',
    '-t',
    'nat',
    '-D',
    'POSTROUTING',
    '-m',
    'comment',
    '--comment',
    'CNI portfwd requiring masquerade',
    '-j',
    'CNI-HOSTPORT-MASQ',
  ]);
  assert.ok(calls.findIndex((a) => a.includes('-X')) > calls.findIndex((a) => a.includes('-F')), 'flush before delete');
  assert.equal(
    calls.filter((a) => a.includes('-X')).map((a) => a[4]),
    ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'],
  );
  assert.is(removed.length, 3);
  // found before the demo: left alone
  const kept = await run(NAT_AFTER_DEL, [
    'iptables nat CNI-HOSTPORT-DNAT',
    'iptables nat CNI-HOSTPORT-MASQ',
    'iptables nat CNI-HOSTPORT-SETMARK',
  ]);
  assert.equal(kept.calls, []);
  // another container's mapping still in the chain: left alone
  const busy = await run(
    NAT_AFTER_DEL.replace('COMMIT', '-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 9999 -j CNI-DN-abc\nCOMMIT'),
    [],
  );
  assert.equal(busy.calls, []);
});

test.run();
