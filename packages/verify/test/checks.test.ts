import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatTable, runCheck } from '../src/checks.js';

/** The table verify prints and the way a check passes or fails, against literal expectations. */

test('formatTable: a row per check (pass, FAIL, n/a), the name column as wide as the longest name, the summary counts what ran', () => {
  const text = formatTable([
    { name: 'eth0 has 10.0.0.2/24', ok: true, detail: '10.0.0.2/24 on eth0', durationMs: 53.4 },
    { name: 'route default via 10.0.0.1', ok: false, detail: 'no route to default in the container', durationMs: 38.6 },
    { name: "resolv.conf has the result's DNS", ok: true, na: true, detail: 'the result has no DNS', durationMs: 0 },
  ]);
  assert.is(
    text,
    [
      'check                             result      ms  detail',
      '--------------------------------  ------  ------  ------',
      'eth0 has 10.0.0.2/24              pass        53  10.0.0.2/24 on eth0',
      'route default via 10.0.0.1        FAIL        39  no route to default in the container',
      "resolv.conf has the result's DNS  n/a          0  the result has no DNS",
      '1 of 2 checks FAILED (1 not applicable to this network)',
    ].join('\n'),
  );
  assert.is(
    formatTable([{ name: 'x', ok: true, detail: 'd', durationMs: 1 }]),
    ['check  result      ms  detail', '-----  ------  ------  ------', 'x      pass         1  d', 'all 1 checks passed'].join('\n'),
  );
});

test('formatTable with colour: green pass, red FAIL, yellow n/a, the columns unchanged', () => {
  const text = formatTable(
    [
      { name: 'a', ok: true, detail: '', durationMs: 0 },
      { name: 'b', ok: false, detail: '', durationMs: 0 },
      { name: 'c', ok: true, na: true, detail: '', durationMs: 0 },
    ],
    true,
  ).split('\n');
  assert.is(text[2], 'a      \x1b[32mpass  \x1b[0m       0  ');
  assert.is(text[3], 'b      \x1b[31mFAIL  \x1b[0m       0  ');
  assert.is(text[4], 'c      \x1b[33mn/a   \x1b[0m       0  ');
});

test('runCheck: a check passes with the detail it returns, fails with the first line of what it threw', async () => {
  const ok = await runCheck('passes', async () => 'reply in 0.1 ms');
  assert.equal([ok.name, ok.ok, ok.detail], ['passes', true, 'reply in 0.1 ms']);
  const bad = await runCheck('fails', async () => {
    throw new Error('no reply: 100% packet loss\nmore lines');
  });
  assert.equal([bad.name, bad.ok, bad.detail], ['fails', false, 'no reply: 100% packet loss']);
  const odd = await runCheck('throws a string', () => Promise.reject('plain'));
  assert.equal([odd.ok, odd.detail], [false, 'plain']);
  assert.ok(bad.durationMs >= 0);
});

test.run();
