import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const packages = readdirSync(path.join(repoRoot, 'packages')).filter((d) => existsSync(path.join(repoRoot, 'packages', d, 'package.json')));

test('every package is typechecked strictly: extends the base config, which is strict, and has a typecheck script', () => {
  const base = readJson(path.join(repoRoot, 'tsconfig.base.json'));
  assert.is(base.compilerOptions.strict, true);
  assert.ok(packages.length >= 9);
  for (const pkg of packages) {
    const tsconfig = readJson(path.join(repoRoot, 'packages', pkg, 'tsconfig.json'));
    assert.is(tsconfig.extends, '../../tsconfig.base.json', `${pkg}/tsconfig.json must extend the base config`);
    for (const loosened of ['strict', 'noImplicitAny', 'strictNullChecks']) {
      assert.not.ok(tsconfig.compilerOptions?.[loosened] === false, `${pkg}/tsconfig.json turns ${loosened} off`);
    }
    const manifest = readJson(path.join(repoRoot, 'packages', pkg, 'package.json'));
    assert.match(manifest.scripts?.typecheck ?? '', /tsc -p tsconfig\.json --noEmit/, `${pkg} has no typecheck script`);
  }
});

test('changesets: every package is private, and privatePackages says so explicitly', () => {
  const config = readJson(path.join(repoRoot, '.changeset/config.json'));
  assert.equal(config.privatePackages, { version: true, tag: false });
  for (const pkg of packages)
    assert.is(readJson(path.join(repoRoot, 'packages', pkg, 'package.json')).private, true, `${pkg} is not private`);
});

test('the root check script runs format check, lint, typecheck and the tests, in that order', () => {
  const { scripts } = readJson(path.join(repoRoot, 'package.json'));
  const steps = `${scripts['check:static']} && ${scripts.test}`;
  const order = ['format:check', 'lint', 'typecheck', 'test-all.mjs'].map((s) => steps.indexOf(s));
  assert.ok(
    order.every((i) => i >= 0),
    `check:static + test: ${steps}`,
  );
  assert.equal(
    [...order].sort((a, b) => a - b),
    order,
  );
  assert.match(scripts.check, /check:static.*&&.*\btest\b/);
});

test.run();
