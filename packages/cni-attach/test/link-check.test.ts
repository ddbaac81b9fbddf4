import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { type Ctx, createExec, recordingExec } from '@cni-demo/core';
import { tag } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { linkInNetns } from '../src/attach.js';

const exec = createExec();

/** Waits until `pid` is inside the netns pinned at `pin` (ip netns exec has done its setns). */
async function waitInside(pid: number, pin: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if (statSync(`/proc/${pid}/ns/net`).ino === statSync(pin).ino) return;
    } catch {
      /* not there yet */
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`pid ${pid} never entered ${pin}`);
}

test('linkInNetns answers from /proc/<pid>/net/dev when the pid is in the pinned netns, else asks nsenter', async () => {
  const name = `t6lc-${tag(4)}`;
  const pin = `/var/run/netns/${name}`;
  await exec('ip', ['netns', 'add', name]);
  const sleeper = spawn('ip', ['netns', 'exec', name, 'sleep', '60'], { stdio: 'ignore' });
  try {
    const pid = sleeper.pid ?? 0;
    await waitInside(pid, pin);
    await exec('ip', ['-n', name, 'link', 'add', 't6lcdum', 'type', 'veth', 'peer', 'name', 't6lcpeer']);

    const rec = recordingExec();
    const ctx = { exec: rec } as unknown as Ctx;
    assert.is(await linkInNetns(ctx, pin, 'lo', pid), true);
    assert.is(await linkInNetns(ctx, pin, 't6lcdum', pid), true);
    assert.is(await linkInNetns(ctx, pin, 'eth0', pid), false);
    assert.is(await linkInNetns(ctx, pin, 't6lcdu', pid), false, 'a prefix of a name is not the name');
    assert.equal(rec.calls, [], 'no process started');

    // a pid in another netns (ours, on the host): the /proc answer would be the host's, so nsenter is asked
    const real = { exec } as unknown as Ctx;
    const spy = recordingExec((argv) => (argv[0] === 'nsenter' ? { exitCode: 0 } : undefined));
    assert.is(await linkInNetns({ exec: spy } as unknown as Ctx, pin, 'eth0', process.pid), true, 'the (recorded) nsenter answer counts');
    assert.equal(spy.calls[0]?.argv, ['nsenter', `--net=${pin}`, 'ip', 'link', 'show', 'dev', 'eth0']);
    assert.is(await linkInNetns(real, pin, 't6lcdum', process.pid), true, 'real nsenter fallback');

    // the process is gone: nsenter again, through the pin that outlives it
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.once('exit', r));
    assert.is(await linkInNetns(real, pin, 't6lcdum', pid), true);
    assert.is(await linkInNetns(real, pin, 'eth0', pid), false);
  } finally {
    sleeper.kill('SIGKILL');
    await exec('ip', ['netns', 'del', name], { allowFail: true });
  }
});

test.run();
