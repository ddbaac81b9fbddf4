import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mdCode, mdText, printable, shown } from '../src/text.js';

const ESC = String.fromCharCode(0x1b);
const CSI8 = String.fromCharCode(0x9b);
const RLO = String.fromCharCode(0x202e);

test('printable shows control, C1 and bidi characters as \\uXXXX and keeps the rest', () => {
  assert.is(printable(`${ESC}[31mred${ESC}[0m`), '\\u001b[31mred\\u001b[0m');
  assert.is(printable(`a${CSI8}2Jb`), 'a\\u009b2Jb');
  assert.is(printable(`name${RLO}gpj.exe`), 'name\\u202egpj.exe');
  assert.is(printable('tab\there, café, 中文, 🙂'), 'tab\there, café, 中文, 🙂');
  assert.is(printable('two\nlines\r'), 'two\\u000alines\\u000d');
  assert.is(printable('two\nlines', { keepNewlines: true }), 'two\nlines');
  assert.is(printable(`x${String.fromCharCode(0)}y${String.fromCharCode(0x7f)}`), 'x\\u0000y\\u007f');
});

test('printable keeps JSON valid and its value unchanged', () => {
  const value = { s: `a${CSI8}b${RLO}c${ESC}d\ne` };
  const text = printable(JSON.stringify(value, null, 2), { keepNewlines: true });
  assert.not.ok(
    [...text].some((ch) => [0x9b, 0x202e, 0x1b].includes(ch.codePointAt(0) ?? 0)),
    text,
  );
  assert.equal(JSON.parse(text), value);
});

test('shown quotes one line of untrusted text', () => {
  assert.is(shown(`root\n✔ all checks passed`), '"root\\u000a✔ all checks passed"');
  assert.is(shown('a"b'), '"a\\"b"');
});

test('mdText: Markdown and HTML specials are literal, a line break cannot start a new block', () => {
  assert.is(mdText('<img src=x onerror=alert(1)>'), '&lt;img src=x onerror=alert(1)&gt;');
  assert.is(mdText('a | b'), 'a \\| b');
  assert.is(
    mdText('**bold** _it_ `code` [link](http://x) ~~s~~ ![i](y)'),
    '\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\[link\\](http://x) \\~\\~s\\~\\~ \\!\\[i\\](y)',
  );
  assert.is(mdText('x\n# heading\r\n| a |'), 'x # heading \\| a \\|');
  assert.is(mdText('&amp;'), '&amp;amp;');
  assert.is(mdText(`${ESC}[2J`), '\\\\u001b\\[2J');
  assert.is(mdText('172.30.1.2/24 fd00::2/64 t-abc_1'), '172.30.1.2/24 fd00::2/64 t-abc\\_1');
});

test('mdCode: a fence longer than any backtick run inside', () => {
  assert.is(mdCode('ip route'), '`ip route`');
  assert.is(mdCode('a`b'), '``a`b``');
  assert.is(mdCode('`x```'), '```` `x``` ````');
  assert.is(mdCode('a\nb'), '`a b`');
});

test.run();
