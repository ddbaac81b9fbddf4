import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findFocusedTests, formatFocusedTest, scanTests } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

const found = (src: string) => findFocusedTests('x.test.ts', src).map((f) => `${f.line}:${f.modifier}`);

test('test.only and test.skip on the imported test are reported at their lines', () => {
  const src = [
    "import { test } from 'uvu';",
    "test.only('a', () => {});",
    "test.skip('b', () => {});",
    "test('c', () => {});",
    'test.run();',
  ].join('\n');
  assert.equal(found(src), ['2:only', '3:skip']);
});

test('suites made with suite(), aliased imports, the namespace import and suite(...).only are followed', () => {
  const src = [
    "import { suite as describe, test as it } from 'uvu';",
    "import * as uvu from 'uvu';",
    "const s = describe('s');",
    'const t = s;',
    "s.only('a', () => {});",
    "t.skip('b', () => {});",
    "it.only('c', () => {});",
    "uvu.test.skip('d', () => {});",
    "const u = uvu.suite('u');",
    "u.only('e', () => {});",
    "describe('inline').skip('f', () => {});",
  ].join('\n');
  assert.equal(found(src), ['5:only', '6:skip', '7:only', '8:skip', '10:only', '11:skip']);
});

test('uncalled, bracketed and destructured .only/.skip are reported too', () => {
  const src = [
    "import { suite, test } from 'uvu';",
    'const focus = test.only;',
    "test['skip']('a', () => {});",
    "const { only, skip: later } = suite('x');",
  ].join('\n');
  assert.equal(found(src), ['2:only', '3:skip', '4:only', '4:skip']);
});

test('.skip and .only on things that are not uvu, in comments, in strings or in files without uvu are not reported', () => {
  const uvuFile = [
    "import { test } from 'uvu';",
    'const stream = { skip: (n: number) => n, only: true };',
    'stream.skip(3);',
    'const onlyOne = stream.only;',
    '// test.only( is what you would type',
    "const s = 'test.skip(';",
    "test('x', () => {});",
  ].join('\n');
  assert.equal(found(uvuFile), []);
  assert.equal(found('const test = { only: () => 1 };\ntest.only();'), []);
});

test('the message names the file and position and says what to do', () => {
  const [f] = findFocusedTests('packages/p/test/a.test.ts', "import { test } from 'uvu';\n  test.only('a', () => {});");
  assert.ok(f);
  assert.is(formatFocusedTest(f), `packages/p/test/a.test.ts:2:8: ${f.message}`);
  assert.match(f.message, /^\.only left in a test: every other test of its suite is skipped\. Remove it/);
});

test('scanTests reads every package test folder, subfolders included, and nothing outside them', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'focused-tests-'));
  try {
    const write = (rel: string, text: string) => {
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      writeFileSync(path.join(root, rel), text);
    };
    const focused = "import { test } from 'uvu';\ntest.only('a', () => {});\n";
    write('packages/a/test/e2e/deep.test.ts', focused);
    write('packages/a/test/helper.ts', "import { test } from 'uvu';\nexport const later = test.skip;\n");
    write('packages/a/src/not-a-test.ts', focused);
    write('packages/a/fixtures/test-all/packages/only/test/focus.test.ts', focused);
    write('packages/b/test/clean.test.ts', "import { test } from 'uvu';\ntest('a', () => {});\n");
    const { files, found: hits } = scanTests(root);
    assert.is(files, 3);
    assert.equal(
      hits.map((h) => `${h.file}:${h.line}:${h.modifier}`),
      ['packages/a/test/e2e/deep.test.ts:2:only', 'packages/a/test/helper.ts:2:skip'],
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('no committed test in this repository has .only or .skip', () => {
  const { files, found: hits } = scanTests(repoRoot);
  assert.ok(files >= 40, `only ${files} test files found under packages/*/test`);
  assert.equal(hits.map(formatFocusedTest), []);
});

test.run();
