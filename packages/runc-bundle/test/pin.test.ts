import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { asUser, createExec, isMountPoint, UserError } from '@cni-demo/core';
import { createTestUser, removeRoot, testConfig, testPrefix, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { containerProcessProblem, pin, procStart } from '../src/pin.js';

/**
 * The pid to pin comes from runc, which in rootless mode runs as the user and keeps its state where the
 * user can edit it. These are the pids a user could name, tried for real against the host: each is
 * refused, nothing is mounted, and the host's own netns is never pinned.
 */
const exec = createExec();

function start(argv: [string, string[]]): ChildProcess {
  const [cmd, args] = argv;
  return spawn(cmd, args, { stdio: 'ignore' });
}

/** Waits until the process has entered its namespaces (unshare execs sleep once they are set up). */
async function settled(p: ChildProcess, comm = 'sleep'): Promise<number> {
  for (let i = 0; i < 200; i++) {
    try {
      if (readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === comm) return p.pid ?? 0;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${p.pid} never became ${comm}`);
}

test('the pids a rootless user could name are refused, and pin() mounts nothing for them', async () => {
  await withCleanup(async (c) => {
    const user = await createTestUser(testPrefix('t'), exec);
    c.add('remove user', () => user.remove());
    const { root, ctx } = await testConfig();
    c.add('remove root', () => removeRoot(root));
    const procs: ChildProcess[] = [];
    c.add('stop processes', () => {
      for (const p of procs) p.kill('SIGKILL');
    });
    const userInHostNs = start(asUser(user, 'sleep', ['300']));
    const rootInOwnNetns = start(['unshare', ['--net', 'sleep', '300']]);
    const userInOwnNamespaces = start(asUser(user, 'unshare', ['--user', '--map-root-user', '--net', 'sleep', '300']));
    procs.push(userInHostNs, rootInOwnNetns, userInOwnNamespaces);
    const [a, b, d] = [await settled(userInHostNs), await settled(rootInOwnNetns), await settled(userInOwnNamespaces)];

    assert.match(containerProcessProblem(1, user) ?? '', /not a container's process/);
    assert.match(containerProcessProblem(1, undefined) ?? '', /not a container's process/);
    assert.match(containerProcessProblem(process.pid, undefined) ?? '', /host's network namespace/);
    assert.match(containerProcessProblem(a, user) ?? '', /host's network namespace/);
    assert.match(containerProcessProblem(b, user) ?? '', /does not run as/);
    assert.match(containerProcessProblem(999_999_999, user) ?? '', /does not exist/);
    // a process of the user's own, in namespaces it made itself, passes: pinning it wires only what the
    // user already owns (the limit of what can be checked from outside; docs/security.md)
    assert.is(containerProcessProblem(d, user), undefined);
    assert.is(containerProcessProblem(b, undefined), undefined, 'root mode: any netns but the host one');

    for (const [pid, who] of [
      [1, user],
      [a, user],
      [b, user],
      [process.pid, undefined],
    ] as const) {
      const pinPath = path.join(ctx.config.netnsDir, `p-${pid}`);
      let error: unknown;
      try {
        await pin(ctx, pid, pinPath, who, 'victim');
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof UserError && error.message.includes(`pid ${pid}`), String(error));
      assert.not.ok(existsSync(pinPath) || isMountPoint(pinPath), `nothing pinned for pid ${pid}`);
    }
    assert.ok(procStart(d) !== undefined);
  });
});

test.run();
