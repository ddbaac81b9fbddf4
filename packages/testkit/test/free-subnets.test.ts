import { parseCidr, prefixesOverlap, shiftPrefix } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freeSubnets, freeUnderlay } from '../src/index.js';

type Prefix = NonNullable<ReturnType<typeof parseCidr>>;

function prefixes(cidrs: readonly string[]): Prefix[] {
  return cidrs.map((c) => {
    const p = parseCidr(c);
    if (!p) throw new Error(`not a CIDR: ${c}`);
    return p;
  });
}

function firstOverlap(list: readonly { label: string; p: Prefix }[]): string | undefined {
  for (let i = 0; i < list.length; i++)
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i];
      const b = list[j];
      if (a && b && prefixesOverlap(a.p, b.p)) return `${a.label} and ${b.label}`;
    }
  return undefined;
}

// Drawn at random from 256 /24s, 100 draws in one process meet twice almost surely (1 - 4e-9) unless each draw
// avoids the earlier ones: the case of a test that takes two configs before bringing either up.
test('subnets handed out in one process never overlap each other, across freeSubnets (one and several nodes) and freeUnderlay', async () => {
  const got: { label: string; p: Prefix }[] = [];
  for (let i = 0; i < 100; i++) {
    const s = await freeSubnets();
    for (const p of prefixes([s.subnet4, s.subnet6])) got.push({ label: `draw ${i} ${s.subnet4}`, p });
  }
  const three = await freeSubnets(undefined, { nodes: 3 });
  const nodeCidrs = [three.subnet4, three.subnet6].flatMap((c) => [0, 1, 2].map((i) => shiftPrefix(c, i) ?? ''));
  for (const p of prefixes(nodeCidrs)) got.push({ label: `3 nodes ${three.subnet4}`, p });
  const under = await freeUnderlay();
  for (const p of prefixes([under])) got.push({ label: `underlay ${under}`, p });
  assert.is(got.length, 200 + 6 + 1);
  assert.is(firstOverlap(got), undefined);
});

// A file of many tests (bad-input) takes dozens of configs before it asks for one of 30 nodes: remembering every
// /24 handed out would leave no 30 in a row free, though none of them is in use any more.
test('after 200 draws, 30 nodes in a row are still found', async () => {
  for (let i = 0; i < 200; i++) await freeSubnets();
  const s = await freeSubnets(undefined, { nodes: 30 });
  assert.match(s.subnet4, /^\d+\.\d+\.\d+\.0\/24$/);
});

test('what is taken (a route, or `avoid`) is passed over', async () => {
  const first = await freeSubnets();
  const x = Number(first.subnet4.split('.')[2]);
  const base = first.subnet4.split('.').slice(0, 2).join('.');
  // the next /24 the cursor would look at, and the one after it
  const avoid = [`${base}.${(x + 1) % 256}.0/24`, `${base}.${(x + 2) % 256}.0/24`];
  const next = await freeSubnets(undefined, { avoid });
  const got = prefixes([next.subnet4]);
  for (const a of prefixes(avoid))
    assert.not.ok(
      got.some((p) => prefixesOverlap(p, a)),
      `${next.subnet4} overlaps ${avoid.join(', ')}`,
    );
  assert.not.equal(next.subnet4, first.subnet4);
});

test.run();
