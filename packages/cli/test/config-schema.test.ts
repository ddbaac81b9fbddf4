import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGES_DIR } from '@cni-demo/testkit';
import { Ajv } from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The config file's JSON Schema as an editor uses it (a real validator, ajv, strict): the sample config in
 * docs/ passes, and what the resolver would refuse for its shape (an unknown key, a wrong type, a value not
 * among the choices, a count below its minimum) is marked. core's json-schema test keeps the file current.
 */
const schema = JSON.parse(readFileSync(path.join(PACKAGES_DIR, 'core', 'config.schema.json'), 'utf8')) as object;
const sample = JSON.parse(readFileSync(path.join(PACKAGES_DIR, '..', 'docs', 'cni-demo.sample.json'), 'utf8')) as Record<string, unknown>;
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

test('the sample config validates against the JSON Schema', () => {
  assert.ok(validate(sample), JSON.stringify(validate.errors));
});

test('the schema marks an unknown key, a wrong type, a value not among the choices, a count below its minimum, a timeout out of bounds', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ subnet: '10.0.0.0/24' }, 'additionalProperties'],
    [{ containers: '3' }, 'type'],
    [{ firewall: 'maybe' }, 'enum'],
    [{ containers: 0 }, 'minimum'],
    [{ id: 'a/b' }, 'pattern'],
    // the plugin timeout's bounds are the CNI runtime's: whole ms from 1 to Node's timer limit
    [{ pluginTimeoutMs: 0 }, 'minimum'],
    [{ pluginTimeoutMs: 2147483648 }, 'maximum'],
    [{ pluginTimeoutMs: 1.5 }, 'type'],
  ];
  for (const [config, keyword] of cases) {
    assert.not.ok(validate(config), JSON.stringify(config));
    assert.ok(
      validate.errors?.some((e) => e.keyword === keyword),
      `${JSON.stringify(config)}: ${keyword} in ${JSON.stringify(validate.errors)}`,
    );
  }
  assert.ok(validate({ pluginDirs: '/usr/lib/cni:/opt/cni/bin' }), 'a list may be one ":"-separated string');
  assert.ok(validate({ pluginDirs: ['/usr/lib/cni'] }), 'or an array');
  assert.ok(validate({ pluginTimeoutMs: 1 }) && validate({ pluginTimeoutMs: 2147483647 }), 'the plugin timeout bounds themselves');
});

test.run();
