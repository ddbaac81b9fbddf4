import { lstatSync, readdirSync, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import { createExec, names, STEPS } from '@cni-demo/core';
import { forceTeardown, removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../../src/pipeline.js';

/**
 * Security guarantees that hold at run time: state is private to root (files 0600, folders 0700) and nothing
 * the demo creates is world-writable. (What the code may not do at all, repo-checks scans for.)
 */
const exec = createExec();

function walk(dir: string, fn: (p: string, st: Stats) => void): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e);
    const st = lstatSync(p);
    fn(p, st);
    if (st.isDirectory()) walk(p, fn);
  }
}

test('a real run: state files 0600, state folders 0700, CNI cache private, nothing world-writable', async () => {
  const { root, config, ctx } = await testConfig();
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(root));
    cl.add('force teardown', () => forceTeardown(config, exec));
    await pipelineUp(ctx);
    const n = names(config);
    const mode = (p: string) => statSync(p).mode & 0o777;
    assert.is(mode(config.stateDir) & 0o077, 0, 'state root private');
    assert.is(mode(n.runDir), 0o700, 'instance folder 0700');
    const stateFiles = readdirSync(n.runDir).filter((f) => f.endsWith('.json'));
    // every step but the nodes, which have nothing to do with one node
    assert.ok(
      STEPS.filter((s) => s !== 'nodes').every((s) => stateFiles.includes(`${s}.json`)),
      `every step wrote its state: ${stateFiles}`,
    );
    for (const f of stateFiles) assert.is(mode(path.join(n.runDir, f)), 0o600, `${f} is 0600`);
    assert.is(mode(path.join(n.runDir, 'cni-attach.conflist')), 0o600, 'conflist copy 0600');
    const results = path.join(config.cniCacheDir, 'results');
    assert.is(mode(results), 0o700, 'CNI cache folder 0700');
    for (const f of readdirSync(results)) assert.is(mode(path.join(results, f)), 0o600, `cache ${f} 0600`);
    const worldWritable: string[] = [];
    walk(root, (p, st) => {
      if (!st.isSymbolicLink() && (st.mode & 0o002) !== 0) worldWritable.push(p);
    });
    assert.equal(worldWritable, [], 'no world-writable path');
    await pipelineDown(ctx);
  });
});

test.run();
