import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger, wantColor } from '../src/index.js';

const tty = { isTTY: true };
const pipe = { isTTY: false };

test('colour: on a terminal unless NO_COLOR or TERM=dumb; never into a pipe by default', () => {
  assert.is(wantColor(tty, {}), true);
  assert.is(wantColor(tty, { NO_COLOR: '1' }), false);
  assert.is(wantColor(tty, { TERM: 'dumb' }), false);
  assert.is(wantColor(pipe, {}), false);
});

test('colour: FORCE_COLOR turns it on into a pipe and wins over NO_COLOR (as in Node); FORCE_COLOR=0 turns it off', () => {
  assert.is(wantColor(pipe, { FORCE_COLOR: '1' }), true);
  assert.is(wantColor(pipe, { FORCE_COLOR: '3' }), true);
  assert.is(wantColor(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }), true);
  assert.is(wantColor(tty, { FORCE_COLOR: '0' }), false);
  assert.is(wantColor(tty, { FORCE_COLOR: 'false' }), false);
  assert.is(wantColor(tty, { FORCE_COLOR: '' }), true, 'empty counts as unset');
});

test('colour: the logger paints errors only when colour is on', () => {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(s) === 0 } as unknown as NodeJS.WritableStream;
  createLogger({ stream, color: true }).error('bad');
  createLogger({ stream, color: false }).error('bad');
  assert.equal(lines, ['\x1b[31mbad\x1b[0m\n', 'bad\n']);
});

test.run();
