import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createExec, names, type RuncBundleState, StateStore } from '@cni-demo/core';
import {
  failures,
  forceTeardown,
  PACKAGES_DIR,
  type ProcResult,
  removeRoot,
  runScript,
  tag,
  testConfig,
  withCleanup,
  writeConfigFile,
} from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runcArgvFor } from '../../src/container.js';

/**
 * The cni-demo command as a user types it: usage, version, colours, and on a running instance exec (stdin,
 * stdout, stderr and the exit code passed through), logs and the one-line --json of up and down. The bad
 * input of each command (exit 2 for usage, 1 for state) is in bad-input.test.ts.
 */
const exec = createExec();
const cli = (args: string[], opts: { env?: Record<string, string>; input?: string } = {}) => runScript('cli', 'cni-demo', args, opts);
const ok = (r: ProcResult, what: string) => assert.is(r.code, 0, `${what}: ${failures([r])}`);
const version = (JSON.parse(readFileSync(path.join(PACKAGES_DIR, 'cli', 'package.json'), 'utf8')) as { version: string }).version;

test('cni-demo alone, --help and -h print the usage on stdout and exit 0', async () => {
  for (const args of [[], ['--help'], ['-h'], ['help']]) {
    const r = await cli(args);
    assert.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: cni-demo <command> \[options\]/);
    for (const c of ['up', 'down', 'status', 'exec', 'logs']) assert.match(r.stdout, new RegExp(`\\n  ${c} `), `lists ${c}`);
    assert.is(r.stderr, '');
  }
});

test('cni-demo --version prints the package version; up --help lists every option', async () => {
  const v = await cli(['--version']);
  assert.is(v.code, 0);
  assert.is(v.stdout, `cni-demo ${version}\n`);
  const h = await cli(['up', '--help']);
  assert.is(h.code, 0);
  assert.match(h.stdout, /^usage: cni-demo up \[options\]/);
  assert.match(h.stdout, /--subnet4 /);
  for (const c of ['exec', 'logs']) {
    const r = await cli([c, '--help']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^usage: cni-demo ${c} \\[--id ID\\]`));
  }
});

test('colours: FORCE_COLOR paints the error line even into a pipe and wins over NO_COLOR; FORCE_COLOR=0 and NO_COLOR do not', async () => {
  const red = '\x1b[31m';
  const bad = ['up', '--no-such-option'];
  assert.ok((await cli(bad, { env: { FORCE_COLOR: '1' } })).stderr.includes(red), 'FORCE_COLOR=1 (NO_COLOR=1 set too)');
  assert.not.ok((await cli(bad, { env: { FORCE_COLOR: '0' } })).stderr.includes(red), 'FORCE_COLOR=0');
  assert.not.ok((await cli(bad)).stderr.includes(red), 'NO_COLOR=1 alone');
});

test('exec and logs on a running instance of two containers; up --json and down --json print one line each', async () => {
  const token = `hello-${tag()}`;
  const { root, config } = await testConfig({
    containers: 2,
    // the token is the script's $1, so the script itself stays one literal string
    cmd: JSON.stringify(['sh', '-c', 'echo "$1 from $(hostname)"; echo "$1 on stderr" >&2; exec sleep 1000000', 'sh', token]),
  });
  const file = writeConfigFile(root, config);
  const id1 = `${config.id}-1`;
  const id2 = `${config.id}-2`;
  await withCleanup(async (cl) => {
    cl.add('remove temp root', () => removeRoot(root));
    cl.add('force teardown', () => forceTeardown(config, exec));
    const up = await cli(['up', '--config', file, '--json']);
    ok(up, 'up');
    const upLines = up.stdout.trimEnd().split('\n');
    assert.is(upLines.length, 1, `up --json prints one line:\n${up.stdout}`);
    assert.equal((JSON.parse(upLines[0] ?? '') as { step: string; action: string; ok: boolean }).ok, true, 'its outcome says ok');

    // stdout, and the container named by --id (<id>-N of an instance of several)
    const hostname = await cli(['exec', '--config', file, '--id', id2, '--', 'cat', '/etc/hostname']);
    ok(hostname, 'exec cat');
    assert.is(hostname.stdout.trim(), id2);
    const addr = await cli(['exec', '--config', file, '--id', id1, '--', 'ip', '-o', '-4', 'addr', 'show', 'dev', config.ifname]);
    ok(addr, 'exec ip');
    assert.match(addr.stdout, new RegExp(`inet ${config.subnet4.split('.').slice(0, 3).join('\\.')}\\.\\d+/24`));
    // stdin through, byte for byte
    const echo = await cli(['exec', '--config', file, '--id', id1, '--', 'cat'], { input: `${token}\nsecond line\n` });
    ok(echo, 'exec cat with stdin');
    assert.is(echo.stdout, `${token}\nsecond line\n`);
    // stderr and the exit code through
    const seven = await cli(['exec', '--config', file, '--id', id1, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.is(seven.code, 7, 'the exit code of the command');
    assert.is(seven.stdout, 'out\n');
    assert.ok(seven.stderr.endsWith('err\n'), seven.stderr);
    // options after -- belong to the command
    const dashed = await cli(['exec', '--config', file, '--id', id1, '--', 'ls', '-d', '--', '/etc']);
    ok(dashed, 'exec with its own --');
    assert.is(dashed.stdout, '/etc\n');

    // logs: the container's stdout and stderr since it started
    const logs = await cli(['logs', '--config', file, '--id', id2]);
    ok(logs, 'logs');
    assert.ok(logs.stdout.includes(`${token} from ${id2}\n`), logs.stdout);
    assert.ok(logs.stdout.includes(`${token} on stderr\n`), logs.stdout);
    assert.not.ok(logs.stdout.includes(id1), "only that container's output");

    const down = await cli(['down', '--config', file, '--json']);
    ok(down, 'down');
    const lines = down.stdout.trimEnd().split('\n');
    assert.is(lines.length, 1, `down --json prints one line:\n${down.stdout}`);
    const o = JSON.parse(lines[0] ?? '') as {
      step: string;
      action: string;
      ok: boolean;
      result: { steps: { step: string; result?: unknown }[] };
    };
    assert.equal([o.step, o.action, o.ok], ['run', 'down', true]);
    assert.equal(o.result.steps.find((s) => s.step === 'verify')?.result, { leaks: [] }, 'the leak audit rides in it');

    const gone = await cli(['exec', '--config', file, '--id', id1, '--', 'true']);
    assert.is(gone.code, 1, 'exec after down: not running');
    assert.match(gone.stderr, new RegExp(`no container "${id1}"`));
  });
});

test('exec and logs in a rootless container: runc runs as the user', async () => {
  const user = `ncr${tag(2)}`;
  await exec('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
  try {
    const uid = Number((await exec('id', ['-u', user])).stdout.trim());
    const token = `rootless-${tag()}`;
    const { root, config } = await testConfig({
      rootless: true,
      rootlessUser: user,
      cmd: JSON.stringify(['sh', '-c', 'echo "$1"; exec sleep 1000000', 'sh', token]),
    });
    // the temp root is 0700: the user must be able to walk to its own folders below it
    chmodSync(root, 0o711);
    const file = writeConfigFile(root, config);
    await withCleanup(async (cl) => {
      cl.add('remove temp root', () => removeRoot(root));
      cl.add('force teardown', () => forceTeardown(config, exec));
      ok(await cli(['up', '--config', file]), 'up');
      const s = new StateStore(names(config).runDir).read<RuncBundleState>('runc-bundle');
      assert.is(s?.rootless?.uid, uid);
      // the argv exec runs: runc as the user, through setpriv
      const argv = runcArgvFor(
        { containerId: config.id, instance: config.id, bundleDir: s?.bundleDir ?? '', runcRoot: config.runcRoot, rootless: s?.rootless },
        ['exec', config.id, 'id', '-u'],
      );
      assert.equal(argv.slice(0, 7), ['setpriv', '--reuid', String(uid), '--regid', String(s?.rootless?.gid), '--clear-groups', '--']);
      // inside, container root (the user, mapped): exec works for a rootless container
      const who = await cli(['exec', '--config', file, '--', 'id', '-u']);
      ok(who, 'exec id');
      assert.is(who.stdout, '0\n');
      const logs = await cli(['logs', '--config', file]);
      ok(logs, 'logs');
      assert.ok(logs.stdout.includes(`${token}\n`), logs.stdout);
      ok(await cli(['down', '--config', file]), 'down');
    });
  } finally {
    await exec('userdel', [user]);
  }
});

test.run();
