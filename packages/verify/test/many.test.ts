import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatAddressTable, samplePairs } from '../src/many.js';

test('samplePairs: distinct ordered pairs of different containers, at most six, first and last covered', () => {
  assert.equal(samplePairs(1), []);
  assert.equal(samplePairs(2), [
    [0, 1],
    [1, 0],
  ]);
  for (const n of [3, 10, 50, 200]) {
    const pairs = samplePairs(n);
    assert.ok(pairs.length > 0 && pairs.length <= 6, `n=${n}: ${pairs.length} pairs`);
    assert.ok(
      pairs.every(([a, b]) => a !== b && a >= 0 && b >= 0 && a < n && b < n),
      `n=${n}: in range`,
    );
    assert.is(new Set(pairs.map((p) => p.join('>'))).size, pairs.length, `n=${n}: no pair twice`);
    const touched = new Set(pairs.flat());
    assert.ok(touched.has(0) && touched.has(n - 1), `n=${n}: first and last container are in a pair`);
  }
  assert.is(samplePairs(200).length, 6);
});

test('address table: one row per container, aligned', () => {
  const t = formatAddressTable([
    { containerId: 'lab-1', ipv4: '10.0.0.2', ipv6: 'fd00::2' },
    { containerId: 'lab-10', ipv4: '10.0.0.11', ipv6: undefined },
  ]).split('\n');
  assert.is(t.length, 4);
  assert.ok(t[2]?.startsWith('lab-1      10.0.0.2   fd00::2'), t[2]);
  assert.ok(t[3]?.endsWith('-'), t[3]);
});

test.run();
