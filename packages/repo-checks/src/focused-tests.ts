/**
 * Finds `.only` and `.skip` on uvu tests and suites in committed test files. A `.only` silently drops every
 * other test of its suite and a `.skip` drops its own: a gate that runs fewer tests than the repository has
 * proves less than it prints. (test-all also fails a run that skipped tests; this finds them before it runs,
 * in files it was not asked to run.)
 *
 * It reads the syntax tree: it follows the names a file imports from 'uvu' (`test`, `suite`, aliases,
 * `import * as uvu`), the suites made from them (`const s = suite('x')`) and plain aliases (`const t = test`),
 * and reports `.only` / `.skip` on any of those, called or not, as `x.only`, `x['only']` or
 * `const { only } = x`. `.skip` on anything else (a stream, a parser) is not uvu's and is not reported.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface FocusedTest {
  /** relative to the scanned root, with forward slashes */
  file: string;
  line: number;
  column: number;
  modifier: 'only' | 'skip';
  message: string;
}

const MODIFIERS = new Set(['only', 'skip']);
const TEST_FILE = /\.(?:[cm]?ts|[cm]?js|tsx|jsx)$/;

const MESSAGES = {
  only: '.only left in a test: every other test of its suite is skipped. Remove it (run one file with `node scripts/test-all.mjs <package> <file>`)',
  skip: '.skip left in a test: a skipped test cannot fail. Make it pass or delete it',
} as const;

export function findFocusedTests(file: string, text: string): FocusedTest[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  // names bound to uvu's test/suite factory, to a suite or test, or to the uvu namespace
  const factories = new Set<string>(); // suite
  const suites = new Set<string>(); // test, and suites made with suite()
  const namespaces = new Set<string>(); // import * as uvu

  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier) || st.moduleSpecifier.text !== 'uvu') continue;
    const bindings = st.importClause?.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings)) namespaces.add(bindings.name.text);
    if (bindings && ts.isNamedImports(bindings)) {
      for (const el of bindings.elements) {
        const imported = (el.propertyName ?? el.name).text;
        if (imported === 'suite') factories.add(el.name.text);
        if (imported === 'test') suites.add(el.name.text);
      }
    }
  }
  if (factories.size + suites.size + namespaces.size === 0) return [];

  /** Is `e` a uvu test or suite: `test`, a suite variable, `uvu.test`, `suite('x')`, `uvu.suite('x')`? */
  const isSuite = (e: ts.Expression): boolean => {
    let x = e;
    while (ts.isParenthesizedExpression(x) || ts.isNonNullExpression(x) || ts.isAsExpression(x)) x = x.expression;
    if (ts.isIdentifier(x)) return suites.has(x.text);
    if (ts.isPropertyAccessExpression(x))
      return ts.isIdentifier(x.expression) && namespaces.has(x.expression.text) && x.name.text === 'test';
    if (ts.isCallExpression(x)) {
      const c = x.expression;
      if (ts.isIdentifier(c)) return factories.has(c.text);
      return (
        ts.isPropertyAccessExpression(c) && ts.isIdentifier(c.expression) && namespaces.has(c.expression.text) && c.name.text === 'suite'
      );
    }
    return false;
  };

  // suites and aliases first (declared before use in any test file that runs), in source order
  const collect = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
      const init = node.initializer;
      if (isSuite(init)) suites.add(node.name.text);
      else if (ts.isIdentifier(init) && factories.has(init.text)) factories.add(node.name.text);
    }
    ts.forEachChild(node, collect);
  };
  collect(sf);

  const found: FocusedTest[] = [];
  const report = (node: ts.Node, modifier: 'only' | 'skip') => {
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    found.push({ file, line: line + 1, column: character + 1, modifier, message: MESSAGES[modifier] });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && MODIFIERS.has(node.name.text) && isSuite(node.expression)) {
      report(node.name, node.name.text as 'only' | 'skip');
    } else if (
      ts.isElementAccessExpression(node) &&
      ts.isStringLiteralLike(node.argumentExpression) &&
      MODIFIERS.has(node.argumentExpression.text) &&
      isSuite(node.expression)
    ) {
      report(node.argumentExpression, node.argumentExpression.text as 'only' | 'skip');
    } else if (ts.isVariableDeclaration(node) && ts.isObjectBindingPattern(node.name) && node.initializer && isSuite(node.initializer)) {
      for (const el of node.name.elements) {
        const key = el.propertyName ?? el.name;
        if (ts.isIdentifier(key) && MODIFIERS.has(key.text)) report(key, key.text as 'only' | 'skip');
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function testFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === 'node_modules') continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) files.push(...testFiles(full));
    else if (TEST_FILE.test(name) && !name.endsWith('.d.ts')) files.push(full);
  }
  return files;
}

/** Every source under packages/<pkg>/test (any depth), the folders test-all runs tests from. */
export function scanTests(root: string): { files: number; found: FocusedTest[] } {
  const pkgs = path.join(root, 'packages');
  const found: FocusedTest[] = [];
  let files = 0;
  for (const pkg of existsSync(pkgs) ? readdirSync(pkgs).sort() : []) {
    const dir = path.join(pkgs, pkg, 'test');
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    for (const file of testFiles(dir)) {
      files += 1;
      found.push(...findFocusedTests(path.relative(root, file).split(path.sep).join('/'), readFileSync(file, 'utf8')));
    }
  }
  return { files, found };
}

export function formatFocusedTest(f: FocusedTest): string {
  return `${f.file}:${f.line}:${f.column}: ${f.message}`;
}
