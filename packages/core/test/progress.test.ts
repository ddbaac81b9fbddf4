import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createProgress, formatEta, mapLimit } from '../src/index.js';

test('mapLimit: never more than the limit at once, order kept, first error after all settled', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
    running++;
    peak = Math.max(peak, running);
    // yield to the event loop: the other tasks get their turn, so a limit that is not kept shows as a peak above 3
    for (let i = 0; i < (x % 3) + 1; i++) await new Promise((r) => setImmediate(r));
    running--;
    return x * 2;
  });
  assert.equal(out, [2, 4, 6, 8, 10, 12, 14]);
  assert.is(peak, 3);
  const seen: number[] = [];
  try {
    await mapLimit([1, 2, 3], 2, async (x) => {
      seen.push(x);
      if (x === 1) throw new Error('boom');
      return x;
    });
    assert.unreachable('should throw');
  } catch (e) {
    assert.is((e as Error).message, 'boom');
  }
  assert.equal(seen.sort(), [1, 2, 3]);
});

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return {
    chunks,
    stream: { isTTY, write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WritableStream & { isTTY: boolean },
  };
}

test('progress: plain lines with an ETA when not a TTY', () => {
  let t = 0;
  const { chunks, stream } = sink(false);
  const p = createProgress('attach', 4, { stream, now: () => t, every: 2 });
  for (let i = 0; i < 4; i++) {
    t += 1000;
    p.tick();
  }
  p.done();
  assert.equal(chunks, ['attach 2/4 eta 2s\n', 'attach 4/4\n']);
  assert.not.ok(chunks.join('').includes('\r'));
});

test('progress: a bar redrawn in place on a TTY, ended by one line', () => {
  let t = 0;
  const { chunks, stream } = sink(true);
  const p = createProgress('attach', 2, { stream, now: () => t });
  t = 2000;
  p.tick();
  p.done();
  assert.ok(chunks.every((c) => c.startsWith('\r')));
  assert.match(chunks[1] ?? '', /\[#{12}\.{12}\] 1\/2 eta 2s/);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the progress line ends with an erase-line escape
  assert.match(chunks[2] ?? '', /attach 1\/2 in 2s\x1b\[K\n$/);
  assert.is(formatEta(125_000), '2m05s');
});

test.run();
