import { createExec, type Exec, forwardPolicies, presentForwardRules } from '@cni-demo/core';
import { removeRoot, tag, testConfig } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { handleForwardPolicy, removeForwardRules } from '../src/forward.js';

/**
 * The FORWARD policy is host-wide and other tests run in parallel, so the real-iptables cases run in a
 * scratch network namespace of their own (t5fw<hex>): every command of the code under test is wrapped
 * in `ip netns exec`, and that namespace's FORWARD policy is set to DROP as Docker would.
 */
const host = createExec();

function inNetns(ns: string): Exec {
  return (cmd, args = [], opts = {}) => host('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

const roots: string[] = [];
async function config(overrides: Record<string, unknown> = {}) {
  const t = await testConfig(overrides);
  roots.push(t.root);
  return t;
}

async function withScratchNs(fn: (exec: Exec) => Promise<void>): Promise<void> {
  const ns = `t5fw${tag(3)}`;
  await host('ip', ['netns', 'add', ns]);
  try {
    await fn(inNetns(ns));
  } finally {
    await host('ip', ['netns', 'del', ns], { allowFail: true });
    for (const r of roots.splice(0)) removeRoot(r);
  }
}

test('ACCEPT policy: nothing to explain, nothing added', async () => {
  await withScratchNs(async (exec) => {
    const { ctx } = await config();
    const c = { ...ctx, exec, config: { ...ctx.config, fixForward: true } };
    assert.equal(await handleForwardPolicy(c), []);
    assert.equal(await presentForwardRules(exec, c.config.id, c.config.bridge), []);
  });
});

test('DROP policy without --fix-forward: explained, rules untouched', async () => {
  await withScratchNs(async (exec) => {
    for (const t of ['iptables', 'ip6tables']) await exec(t, ['-w', '-P', 'FORWARD', 'DROP']);
    const { ctx } = await config();
    const warnings: string[] = [];
    const c = { ...ctx, exec, log: { ...ctx.log, warn: (m: string) => void warnings.push(m) } };
    assert.equal(await handleForwardPolicy(c), ['iptables', 'ip6tables']);
    assert.is(warnings.length, 1);
    assert.ok(warnings[0]?.includes('--fix-forward'), warnings[0]);
    assert.equal(await presentForwardRules(exec, c.config.id, c.config.bridge), []);
    assert.equal(await forwardPolicies(exec), ['DROP', 'DROP']);
  });
});

test('DROP policy with --fix-forward: ACCEPT rules in and out of the bridge, idempotent, removed by removeForwardRules (what down calls)', async () => {
  await withScratchNs(async (exec) => {
    for (const t of ['iptables', 'ip6tables']) await exec(t, ['-w', '-P', 'FORWARD', 'DROP']);
    const { ctx } = await config({ fixForward: true });
    const c = { ...ctx, exec };
    const before = (await exec('iptables-save', ['-t', 'filter'])).stdout.split('\n').filter((l) => l.startsWith('-'));
    await handleForwardPolicy(c);
    await handleForwardPolicy(c);
    // as iptables prints them back: in and out of the bridge, marked with the instance and the bridge
    const { id, bridge } = c.config;
    const want = [
      `-A FORWARD -i ${bridge} -m comment --comment "cni-demo id=${id} bridge=${bridge}" -j ACCEPT`,
      `-A FORWARD -o ${bridge} -m comment --comment "cni-demo id=${id} bridge=${bridge}" -j ACCEPT`,
    ];
    for (const tool of ['iptables', 'ip6tables']) {
      const saved = (await exec(tool, ['-w', '-S', 'FORWARD'])).stdout.split('\n');
      assert.equal(saved.filter((l) => l.includes('cni-demo id=')).sort(), want, `${tool}: each rule once`);
    }
    assert.is(await removeForwardRules(exec, c.config.id, c.config.bridge), 4);
    assert.is(await removeForwardRules(exec, c.config.id, c.config.bridge), 0);
    const after = (await exec('iptables-save', ['-t', 'filter'])).stdout.split('\n').filter((l) => l.startsWith('-'));
    assert.equal(after, before, "filter table as before; the policy stays the user's");
  });
});

test.run();
