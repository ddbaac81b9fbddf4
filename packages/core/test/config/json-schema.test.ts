import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Config, configJsonSchema, defaults, FIELDS, resolveConfig, schema } from '../../src/index.js';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const committed = path.join(pkgDir, 'config.schema.json');

test('the committed config.schema.json is what the config schema generates', () => {
  const onDisk = JSON.parse(readFileSync(committed, 'utf8')) as unknown;
  assert.equal(onDisk, configJsonSchema(), `${committed} is stale: run pnpm --filter @cni-demo/core run config-schema`);
});

test('the JSON Schema names every field with its type, default and help; no other key is allowed', () => {
  const s = configJsonSchema() as { additionalProperties: boolean; properties: Record<string, Record<string, unknown>> };
  assert.is(s.additionalProperties, false);
  for (const f of FIELDS) {
    const p = s.properties[f];
    assert.ok(p, f);
    assert.equal(p?.default, schema[f].default, `${f} default`);
    assert.ok(String(p?.description).startsWith(schema[f].help), `${f} help`);
  }
  assert.equal(s.properties.firewall?.enum, ['auto', 'on', 'off']);
  assert.equal(s.properties.containers?.minimum, 1);
});

test("each field's choices and lower bound say what its check enforces", () => {
  const base = defaults();
  for (const f of FIELDS) {
    const spec = schema[f] as { choices?: readonly string[]; min?: number; check?: (v: unknown, c: Config) => string | undefined };
    for (const c of spec.choices ?? []) assert.is(spec.check?.(c, base), undefined, `${f}: ${c} is allowed`);
    if (spec.choices) assert.type(spec.check?.('not-a-choice', base), 'string', `${f}: anything else is refused`);
    if (spec.min !== undefined) {
      assert.is(spec.check?.(spec.min, base), undefined, `${f}: ${spec.min} is allowed`);
      assert.type(spec.check?.(spec.min - 1, base), 'string', `${f}: ${spec.min - 1} is refused`);
    }
  }
});

test('the sample config file in docs/ resolves with no problem ($schema is ignored)', () => {
  const sample = JSON.parse(readFileSync(path.join(pkgDir, '../../docs/cni-demo.sample.json'), 'utf8')) as Record<string, unknown>;
  assert.is(sample.$schema, '../packages/core/config.schema.json', 'it names the schema by its path from docs/');
  const { config } = resolveConfig({ file: sample, env: {} });
  assert.is(config.id, sample.id);
  assert.is(config.containers, sample.containers);
});

test.run();
