import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * Each on-disk format and each plugin call has one owner module, as libcni owns its cache: host-local's lease
 * bookkeeping (last_reserved_ip) is known to core's host/leases.ts only, the CNI cache's results folder to
 * cni's cache.ts only, and a plugin is asked for its VERSION by the cni runtime only. Any other source that
 * spells one of them in a string is re-parsing a format or running a plugin by hand.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

interface Rule {
  what: string;
  matches: (text: string) => boolean;
  /** paths (relative to the repo) allowed to spell it; a path ending in "/" allows a folder */
  owners: string[];
}

const RULES: Rule[] = [
  { what: 'host-local lease bookkeeping', matches: (t) => t.includes('last_reserved_ip'), owners: ['packages/core/src/host/leases.ts'] },
  {
    what: 'the CNI cache results folder',
    matches: (t) => t === 'results' || /(^|\/)results(\/|$)/.test(t),
    owners: ['packages/cni/src/cache.ts'],
  },
  {
    what: 'a plugin VERSION call',
    matches: (t) => t === 'VERSION',
    // the runtime makes the call; testkit's fake plugins are the other side of it, answering
    owners: ['packages/cni/src/', 'packages/testkit/src/fake-plugins.ts'],
  },
];

/** Every string the code spells (literals and the fixed parts of templates), with its line. */
function strings(file: string, text: string): { text: string; line: number }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: { text: string; line: number }[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      out.push({ text: node.text, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

function violations(file: string, text: string): string[] {
  const out: string[] = [];
  for (const s of strings(file, text)) {
    for (const r of RULES) {
      if (r.matches(s.text) && !r.owners.some((o) => (o.endsWith('/') ? file.startsWith(o) : file === o))) {
        out.push(`${file}:${s.line}: ${r.what} outside ${r.owners.join(', ')}: ${JSON.stringify(s.text)}`);
      }
    }
  }
  return out;
}

function productSources(): string[] {
  const out: string[] = [];
  for (const pkg of readdirSync(path.join(repoRoot, 'packages'))) {
    for (const dir of ['src', 'scripts']) {
      const abs = path.join(repoRoot, 'packages', pkg, dir);
      if (!existsSync(abs)) continue;
      for (const f of readdirSync(abs, { recursive: true }).map(String)) {
        if (/\.m?ts$/.test(f) && !f.endsWith('.d.ts')) out.push(path.join('packages', pkg, dir, f));
      }
    }
  }
  return out;
}

test('lease bookkeeping, the cache results folder and plugin VERSION calls appear only in their owners', () => {
  const files = productSources();
  assert.ok(files.length > 60, `found ${files.length} source files`);
  assert.is(files.flatMap((f) => violations(f, readFileSync(path.join(repoRoot, f), 'utf8'))).join('\n'), '');
});

test('the check catches each of them outside its owner, in literals and templates, and not in comments', () => {
  const planted = [
    "const dir = path.join(cacheDir, 'results');",
    'const f = `${cacheDir}/results/${name}`;',
    "if (f.startsWith('last_reserved_ip')) continue;",
    "await exec(bin, [], { env: { CNI_COMMAND: 'VERSION' } });",
    '// results, last_reserved_ip and VERSION in a comment are fine',
  ].join('\n');
  assert.equal(
    violations('packages/verify/src/x.ts', planted).map((v) => v.split(': ')[0]),
    ['packages/verify/src/x.ts:1', 'packages/verify/src/x.ts:2', 'packages/verify/src/x.ts:3', 'packages/verify/src/x.ts:4'],
  );
  assert.equal(violations('packages/cni/src/cache.ts', "path.join(cacheDir, 'results')"), []);
  assert.equal(violations('packages/core/src/host/leases.ts', "f.startsWith('last_reserved_ip')"), []);
  assert.equal(violations('packages/cni/src/api.ts', "this.spawn('VERSION', type)"), []);
});

test.run();
