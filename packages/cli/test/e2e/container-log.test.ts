import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createExec, type RuncBundleState } from '@cni-demo/core';
import * as imageFetch from '@cni-demo/image-fetch';
import * as runcBundle from '@cni-demo/runc-bundle';
import { forceTeardown, removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import { readContainerLog } from '../../src/container.js';
import * as assert from 'uvu/assert';

/**
 * A container that prints without end (issue 14, item 4: 185 MB in 5 s under /run before). Its output is
 * capped at --container-log-max-bytes: container.log and container.log.1 together never hold more, the
 * newest output is kept, and the keeper that writes them is gone once the container is.
 */
const exec = createExec();

/** The file's size, 0 when it is not there (the keeper renames it away at any moment). */
const size = (f: string) => {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
};

/** Processes whose command line names `needle` (the keeper names its log files). */
function processesNaming(needle: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

test('a container printing without end keeps at most the cap on disk; the keeper leaves with the container', async () => {
  const max = 64 * 1024;
  const { root, config, ctx } = await testConfig({ cmd: 'yes cni-demo-log-test', containerLogMaxBytes: max });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    await imageFetch.up(ctx);
    await runcBundle.up(ctx);
    const b = ctx.state.read<RuncBundleState>('runc-bundle') as RuncBundleState;
    const log = path.join(b.bundleDir, 'container.log');
    await until('the log rotated', () => existsSync(`${log}.1`));
    for (let i = 0; i < 20; i++) {
      const total = size(log) + size(`${log}.1`);
      assert.ok(size(log) <= max / 2 && size(`${log}.1`) <= max / 2 && total <= max, `on disk: ${size(log)} + ${size(`${log}.1`)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(readFileSync(`${log}.1`, 'utf8').includes('cni-demo-log-test\ncni-demo-log-test\n'), 'the container output is there');
    assert.ok(processesNaming(log).length > 0, 'a keeper writes the log');
    // cni-demo logs prints both files, older first: never more than the cap
    const shown = readContainerLog({
      containerId: config.id,
      instance: config.id,
      bundleDir: b.bundleDir,
      runcRoot: config.runcRoot,
      rootless: undefined,
    });
    assert.ok(shown.length > 0 && shown.length <= max, `logs prints ${shown.length} bytes`);
    await runcBundle.down(ctx);
    await until('the keeper exited', () => processesNaming(log).length === 0);
    await imageFetch.down(ctx);
  });
});

test.run();
