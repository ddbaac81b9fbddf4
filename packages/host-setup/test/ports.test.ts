import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createExec, getLink, UserError, UserErrors } from '@cni-demo/core';
import { forceTeardown, removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildNetConf, hostPortProblems, privilegedPortProblem } from '../src/index.js';
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

test.run();
