import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandError, createExec, MAX_OUTPUT_CHARS, recordingExec } from '../src/index.js';

test('exec: a failing command gives argv to paste, exit code and stderr tail', async () => {
  const exec = createExec();
  try {
    await exec('sh', ['-c', 'echo "first line" >&2; echo "it broke" >&2; exit 3']);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CommandError);
    const ce = e as CommandError;
    assert.is(ce.exitCode, 3);
    assert.match(ce.message, /exited with code 3/);
    assert.match(ce.message, /sh -c 'echo "first line" >&2; echo "it broke" >&2; exit 3'/);
    assert.match(ce.message, /it broke/);
  }
});

test('exec: a missing command is reported as not found', async () => {
  try {
    await createExec()('no-such-command-cni-demo', []);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CommandError);
    assert.match((e as Error).message, /command not found/);
  }
});

test('exec: allowFail resolves; stdin is passed; timeout kills', async () => {
  const exec = createExec();
  const r = await exec('sh', ['-c', 'exit 4'], { allowFail: true });
  assert.is(r.exitCode, 4);
  const cat = await exec('cat', [], { input: 'hello' });
  assert.is(cat.stdout, 'hello');
  try {
    await exec('sleep', ['600'], { timeoutMs: 200 });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /timed out/);
  }
});

test('exec: one final newline is stripped unless kept; env adds to the inherited one; cwd is used', async () => {
  const exec = createExec();
  assert.is((await exec('printf', ['a\\n\\n'])).stdout, 'a\n');
  assert.is((await exec('printf', ['a\\n'], { keepFinalNewline: true })).stdout, 'a\n');
  const env = await exec('sh', ['-c', 'echo "$CNI_DEMO_EXEC_TEST:$HOME"'], { env: { CNI_DEMO_EXEC_TEST: 'x' } });
  assert.is(env.stdout, `x:${process.env.HOME ?? ''}`);
  assert.is((await exec('pwd', [], { cwd: '/proc' })).stdout, '/proc');
});

test('exec: a command killed by a signal fails naming it; allowFail gives exit code -1', async () => {
  const exec = createExec();
  try {
    await exec('sh', ['-c', 'kill -TERM $$']);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CommandError);
    assert.is((e as CommandError).signal, 'SIGTERM');
    assert.match((e as Error).message, /killed by SIGTERM/);
  }
  const r = await exec('sh', ['-c', 'kill -KILL $$'], { allowFail: true });
  assert.is(r.exitCode, -1);
});

test('exec: input a command never reads is no error (its pipe closes early)', async () => {
  const r = await createExec()('true', [], { input: 'x'.repeat(4 << 20) });
  assert.is(r.exitCode, 0);
});

test('exec: stdout and stderr are kept apart, multi-byte text whole', async () => {
  const r = await createExec()('sh', ['-c', 'printf "é€" ; printf "err" >&2']);
  assert.is(r.stdout, 'é€');
  assert.is(r.stderr, 'err');
});

test('exec: a command printing beyond the output cap is stopped and fails saying so; the default cap is 64 MiB', async () => {
  const exec = createExec();
  const cap = 256 * 1024;
  try {
    await exec('head', ['-c', String(cap + 1), '/dev/zero'], { maxOutputChars: cap });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CommandError);
    assert.match((e as Error).message, /was stopped for printing too much/);
    assert.match((e as Error).message, /output beyond 262144 characters: stopped/);
  }
  // on stderr too; with allowFail the cut output is no success either
  const r = await exec('sh', ['-c', 'head -c "$1" /dev/zero >&2', 'sh', String(cap + 1)], { allowFail: true, maxOutputChars: cap });
  assert.is(r.exitCode, -1);
  assert.ok(r.stderr.length <= cap + 100, 'what was kept stays within the cap');
  assert.is((await exec('head', ['-c', String(cap), '/dev/zero'], { maxOutputChars: cap })).stdout.length, cap);
  assert.is(MAX_OUTPUT_CHARS, 64 * 1024 * 1024);
});

test('exec: the recorder keeps argv, env and stdin', async () => {
  const rec = recordingExec((argv) => (argv[0] === 'false' ? { exitCode: 1 } : { stdout: 'ok' }));
  const r = await rec('ip', ['link', 'show'], { env: { A: '1' }, input: 'x' });
  assert.is(r.stdout, 'ok');
  assert.equal(rec.calls[0]?.argv, ['ip', 'link', 'show']);
  assert.equal(rec.calls[0]?.opts.env, { A: '1' });
  assert.is(rec.calls[0]?.opts.input, 'x');
  try {
    await rec('false');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CommandError);
  }
});

test.run();
