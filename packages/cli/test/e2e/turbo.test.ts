import { existsSync } from 'node:fs';
import path from 'node:path';
import { createExec, getLink } from '@cni-demo/core';
import { forceTeardown, PACKAGES_DIR, removeRoot, tag, testConfig, testPrefix, withCleanup, writeConfigFile } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The step-by-step path as the README gives it: `pnpm turbo run demo -- <flags>` hands the flags after `--`
 * to every step's script, and each step reads them. The config file names one bridge, the flag another:
 * the flag's bridge is the one made.
 */
const exec = createExec();
const REPO = path.dirname(PACKAGES_DIR);
const turbo = (task: string, args: string[]) =>
  exec(path.join(REPO, 'node_modules', '.bin', 'turbo'), ['run', task, '--output-logs=errors-only', '--', ...args], {
    cwd: REPO,
    env: { TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', NO_COLOR: '1' },
    allowFail: true,
    timeoutMs: 600_000,
  });

test('pnpm turbo run demo -- --bridge x: the flag reaches every step, and turbo run down -- the same flags tears it down', async () => {
  const { root, config } = await testConfig();
  const bridge = `${testPrefix('ctb')}${tag(3)}`;
  const file = writeConfigFile(root, config);
  const args = ['--config', file, '--bridge', bridge];
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown({ ...config, bridge }, exec));
    c.add('force teardown (config bridge)', () => forceTeardown(config, exec));

    const up = await turbo('demo', args);
    assert.is(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    assert.is((await getLink(exec, bridge))?.kind, 'bridge', `bridge ${bridge} from the flag`);
    assert.not.ok(await getLink(exec, config.bridge), `no bridge ${config.bridge} from the config file`);

    const down = await turbo('down', args);
    assert.is(down.exitCode, 0, `${down.stdout}\n${down.stderr}`);
    assert.not.ok(await getLink(exec, bridge), 'bridge removed');
    assert.not.ok(existsSync(config.stateDir), 'state removed');
  });
});

test.run();
