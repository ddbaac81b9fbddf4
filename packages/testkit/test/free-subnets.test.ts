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

// Drawn at random from 256 /24s, 100 draws in one process meet twice almost surely (1 - 3e-9) unless each draw
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

test('when every /24 is taken the error says so instead of handing one out twice', async () => {
  let n = 0;
  let err: unknown;
  try {
    for (; n < 300; n++) await freeUnderlay();
  } catch (e) {
    err = e;
  }
  assert.ok(n <= 256, `handed out ${n} /24s of a /16`);
  assert.match(String(err), /no free underlay subnet found in \d+\.\d+\.0\.0\/16/);
});

test.run();
