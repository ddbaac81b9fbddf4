import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The documents stand alone: every link and every path they name in backticks that looks like a file of
 * this repository exists in it, and none points outside (a sibling checkout, a developer's machine), so a
 * fresh clone reads them whole.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

function documents(): string[] {
  const out = ['README.md', 'CONTRIBUTING.md'];
  for (const f of readdirSync(path.join(repoRoot, 'docs'))) if (f.endsWith('.md')) out.push(path.join('docs', f));
  for (const pkg of readdirSync(path.join(repoRoot, 'packages'))) {
    if (existsSync(path.join(repoRoot, 'packages', pkg, 'README.md'))) out.push(path.join('packages', pkg, 'README.md'));
  }
  return out;
}

/** Problems in one document: links that leave the repository or name no file, repository paths that do not exist. */
export function linkProblems(doc: string, text: string, exists: (p: string) => boolean): string[] {
  const out: string[] = [];
  const dir = path.dirname(doc);
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = (m[1] ?? '').split('#')[0] ?? '';
    if (target === '' || /^[a-z]+:/.test(target)) continue;
    const rel = path.normalize(path.join(dir, target));
    if (rel.startsWith('..') || path.isAbsolute(target)) out.push(`${doc}: link ${m[1]} leaves the repository`);
    else if (!exists(rel)) out.push(`${doc}: link ${m[1]} names no file (${rel})`);
  }
  // repository paths in backticks, from the root (docs/…, packages/…, bench/…; "scripts/" is ambiguous: a package has one too)
  for (const m of text.matchAll(/`((?:docs|packages|bench)\/[\w./-]+\.(?:md|json|ts|mjs|mts|sh))`/g)) {
    const p = m[1] ?? '';
    if (!exists(p) && !exists(path.join(dir, p))) out.push(`${doc}: ${p} does not exist`);
  }
  // any path in backticks that climbs past the repository's root from the document's folder, unless it names a
  // file of the repository as seen from a package folder (CONTRIBUTING: a package's tsconfig extends
  // `../../tsconfig.base.json`)
  for (const m of text.matchAll(/`((?:\.\.\/)+[\w.-][\w./-]*)`/g)) {
    const p = m[1] ?? '';
    const fromPackage = path.normalize(path.join('packages', 'pkg', p));
    const outside = path.normalize(path.join(dir, p)).startsWith('..') && (fromPackage.startsWith('..') || !exists(fromPackage));
    if (outside) out.push(`${doc}: ${p} is outside the repository`);
  }
  // an absolute path into the folder that holds the checkout (a sibling checkout on the author's machine)
  if (text.includes(`${path.dirname(repoRoot)}/`)) out.push(`${doc}: names a path outside the repository`);
  return out;
}

test('README, CONTRIBUTING, docs/ and the package READMEs link and name only files of the repository', () => {
  const docs = documents();
  assert.ok(docs.length >= 5, docs.join(', '));
  const exists = (p: string) => existsSync(path.join(repoRoot, p));
  const problems = docs.flatMap((d) => linkProblems(d, readFileSync(path.join(repoRoot, d), 'utf8'), exists));
  assert.is(problems.join('\n'), '');
});

test('the check catches a link out of the repository, a missing file and a path outside it', () => {
  const exists = (p: string) => p === 'docs/internals.md';
  const sibling = `${path.dirname(repoRoot)}/elsewhere/notes.md`;
  const text = [
    '[a](docs/internals.md) [b](../elsewhere/x.md) [c](docs/nope.md) [d](https://example.org/x)',
    'read `../elsewhere/facts.md`, `docs/gone.md` and `../../x.sh`, but `docs/internals.md` and `../../docs/internals.md` are fine',
    `and ${sibling}`,
  ].join('\n');
  assert.equal(linkProblems('README.md', text, exists), [
    'README.md: link ../elsewhere/x.md leaves the repository',
    'README.md: link docs/nope.md names no file (docs/nope.md)',
    'README.md: docs/gone.md does not exist',
    'README.md: ../elsewhere/facts.md is outside the repository',
    'README.md: ../../x.sh is outside the repository',
    'README.md: names a path outside the repository',
  ]);
  // inside a package folder one level of ../ stays in the repository
  assert.equal(
    linkProblems('packages/cni/README.md', 'see `../core/src/net.ts`', () => true),
    [],
  );
});

test.run();
