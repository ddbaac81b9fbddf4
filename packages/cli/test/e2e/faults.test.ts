import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createExec, names } from '@cni-demo/core';
import {
  failures,
  forceTeardown,
  hostSnapshot,
  ownSnapshotDiff,
  removeRoot,
  runDemo,
  runDown,
  runScript,
  testConfig,
  withCleanup,
  writeConfigFile,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * Crash safety: each step runs as its own process (as `pnpm turbo run demo` runs it) and SIGKILLs itself
 * at a named point (core fault.ts, CNI_FAULT_AT). Afterwards a plain demo and a plain down must both
 * succeed, the leak audit must find nothing, and the host must look as it did before.
 */
const exec = createExec();
// the orders runDemo and runDown run the steps in (the step graph's), written out: the expected counts follow them
const UP = ['host-setup', 'image-fetch', 'nodes', 'runc-bundle', 'cni-attach', 'verify'];
const DOWN = ['cni-attach', 'runc-bundle', 'nodes', 'host-setup', 'image-fetch', 'verify'];

interface Case {
  point: string;
  /** the step whose process the point kills */
  step: string;
  phase: 'up' | 'down';
}

const CASES: Case[] = [
  { point: 'host-setup:after-state', step: 'host-setup', phase: 'up' },
  { point: 'host-setup:after-bridge', step: 'host-setup', phase: 'up' },
  { point: 'image-fetch:before-state', step: 'image-fetch', phase: 'up' },
  { point: 'runc-bundle:after-create', step: 'runc-bundle', phase: 'up' },
  { point: 'runc-bundle:before-state', step: 'runc-bundle', phase: 'up' },
  { point: 'cni-attach:before-add', step: 'cni-attach', phase: 'up' },
  // armed as ADD starts, fires while the bridge plugin is still wiring the veth and the lease
  { point: 'cni-attach:before-add@15', step: 'cni-attach', phase: 'up' },
  { point: 'cni-attach:after-add', step: 'cni-attach', phase: 'up' },
  { point: 'verify:before-state', step: 'verify', phase: 'up' },
  { point: 'cni-attach:down-after-del', step: 'cni-attach', phase: 'down' },
  { point: 'runc-bundle:down-after-delete', step: 'runc-bundle', phase: 'down' },
  { point: 'host-setup:down-after-conf', step: 'host-setup', phase: 'down' },
];

for (const c of CASES) {
  test(`SIGKILL at ${c.point}, then demo and down succeed and nothing leaks`, async () => {
    const { root, config } = await testConfig();
    const before = await hostSnapshot(exec, config);
    const file = writeConfigFile(root, config);
    const fault = { CNI_FAULT_AT: c.point };
    await withCleanup(async (cl) => {
      cl.add('remove temp root', () => removeRoot(root));
      cl.add('force teardown', () => forceTeardown(config, exec));

      if (c.phase === 'up') {
        const runs = await runDemo(file, fault);
        const killed = runs.at(-1);
        assert.is(runs.length, UP.indexOf(c.step) + 1, failures(runs));
        assert.is(killed?.signal, 'SIGKILL', `${c.step} up was killed at ${c.point}: ${killed?.stderr}`);
      } else {
        const up = await runDemo(file);
        assert.is(failures(up), '', 'demo before the faulty down');
        const downs = await runDown(file, fault);
        const killed = downs[DOWN.indexOf(c.step)];
        assert.is(killed?.signal, 'SIGKILL', `${c.step} down was killed at ${c.point}: ${killed?.stderr}`);
      }

      const again = await runDemo(file);
      assert.is(failures(again), '', 'demo after the crash');
      assert.is(again.length, UP.length);
      const down = await runDown(file);
      assert.is(failures(down), '', 'down after the demo');
      const audit = await runScript('verify', 'leaks', ['--config', file]);
      assert.is(audit.code, 0, `leak audit: ${audit.stderr}`);

      assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'host as before');
    });
  });
}

/**
 * Several nodes: a kill at every point, the nodes' own included, through the one-process cni-demo (the kill then
 * lands with whatever runs alongside half done), is recovered by the next up or down: a clean audit, the host as before.
 */
const NODE_POINTS = [
  // with nodes no bridge is made on the host: host-setup's point is after the first node's network config instead
  ...CASES.filter((c) => c.point !== 'host-setup:after-bridge').map((c) => ({ point: c.point, phase: c.phase })),
  { point: 'host-setup:after-node-conf', phase: 'up' as const },
  { point: 'nodes:after-state', phase: 'up' as const },
  { point: 'nodes:after-node', phase: 'up' as const },
  { point: 'nodes:before-routes', phase: 'up' as const },
  { point: 'nodes:down-after-veths', phase: 'down' as const },
];

for (const c of NODE_POINTS) {
  test(`two nodes: SIGKILL at ${c.point}, then up and down succeed and nothing leaks`, async () => {
    const { root, config } = await testConfig({ nodes: 2 });
    const before = await hostSnapshot(exec, config);
    const file = writeConfigFile(root, config);
    const cli = (action: string, env: Record<string, string> = {}) => runScript('cli', 'cni-demo', [action, '--config', file], { env });
    await withCleanup(async (cl) => {
      cl.add('remove temp root', () => removeRoot(root));
      cl.add('force teardown', () => forceTeardown(config, exec));
      if (c.phase === 'down') {
        const up = await cli('up');
        assert.is(up.code, 0, `up before the faulty down: ${up.stderr}`);
      }
      const killed = await cli(c.phase, { CNI_FAULT_AT: c.point });
      assert.is(killed.signal, 'SIGKILL', `${c.phase} was killed at ${c.point}: ${killed.stderr}`);
      const up = await cli('up');
      assert.is(up.code, 0, `up after the kill: ${up.stderr}`);
      const down = await cli('down');
      assert.is(down.code, 0, `down after it: ${down.stderr}`);
      const audit = await runScript('verify', 'leaks', ['--config', file]);
      assert.is(audit.code, 0, `leak audit: ${audit.stderr}`);
      assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'host as before');
    });
  });
}

test('every step rerun after success changes nothing and succeeds, up and down', async () => {
  const { root, config } = await testConfig();
  const before = await hostSnapshot(exec, config);
  const file = writeConfigFile(root, config);
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(root));
    cl.add('force teardown', () => forceTeardown(config, exec));
    assert.is(failures(await runDemo(file)), '', 'first demo');
    const { runDir } = names(config);
    const read = (step: string) => readFileSync(path.join(runDir, `${step}.json`), 'utf8');
    const keep = ['host-setup', 'image-fetch', 'runc-bundle', 'cni-attach'].map(read);
    const up1 = await hostSnapshot(exec, config);
    assert.is(failures(await runDemo(file)), '', 'second demo');
    assert.is(ownSnapshotDiff(up1, await hostSnapshot(exec, config), config), '', 'the rerun changed nothing on the host');
    assert.equal(['host-setup', 'image-fetch', 'runc-bundle', 'cni-attach'].map(read), keep, 'same container, same addresses, same state');
    assert.is(failures(await runDown(file)), '', 'first down');
    assert.is(failures(await runDown(file)), '', 'second down');
    assert.is(ownSnapshotDiff(before, await hostSnapshot(exec, config), config), '', 'host as before');
  });
});

test('the leak audit fails and lists what a killed demo left, then down clears it', async () => {
  const { root, config } = await testConfig();
  const file = writeConfigFile(root, config);
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(root));
    cl.add('force teardown', () => forceTeardown(config, exec));
    const runs = await runDemo(file, { CNI_FAULT_AT: 'cni-attach:after-add' });
    assert.is(runs.at(-1)?.signal, 'SIGKILL');
    const audit = await runScript('verify', 'leaks', ['--config', file, '--json']);
    assert.is(audit.code, 1, 'audit fails while things are left');
    const report = JSON.parse(audit.stdout) as { ok: boolean; leaks: { kind: string; what: string }[] };
    const kinds = new Set(report.leaks.map((l) => l.kind));
    for (const k of ['bridge', 'veth', 'netns-pin', 'runc-container', 'lease', 'cni-cache', 'nat-chain', 'state']) {
      assert.ok(kinds.has(k), `audit lists a ${k}: ${JSON.stringify(report.leaks)}`);
    }
    assert.is(failures(await runDown(file)), '');
    const clean = await runScript('verify', 'leaks', ['--config', file, '--json']);
    assert.is(clean.code, 0, clean.stderr);
    assert.equal(JSON.parse(clean.stdout), { ok: true, leaks: [] });
  });
});

test.run();
