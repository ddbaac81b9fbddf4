import { MAX_TIMEOUT_MS } from '@cni-demo/cni';
import { createContext, createLogger, defaults, MAX_TIMER_MS, resolveConfig } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runtimeFor } from '../src/attach.js';

/**
 * The config's pluginTimeoutMs is handed to the CNI runtime as it is: the two must agree on every value, or
 * a config that passed its checks (exit 2 before anything changes) would fail halfway through an up, after
 * the host was changed.
 */
const accepts = (fn: () => unknown) => {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
};

test('the config accepts exactly the plugin timeouts the runtime takes: whole ms from 1 to 2^31-1', () => {
  assert.is(MAX_TIMER_MS, MAX_TIMEOUT_MS, "one timer limit: Node's");
  const values = [-1, 0, 0.5, 1, 1.5, 99, 100, 30_000, MAX_TIMEOUT_MS - 1, MAX_TIMEOUT_MS, MAX_TIMEOUT_MS + 1, 3_000_000_000];
  for (const v of values) {
    const config = accepts(() => resolveConfig({ env: {}, file: { pluginTimeoutMs: v } }));
    const runtime = accepts(() =>
      runtimeFor(createContext({ ...defaults(), pluginTimeoutMs: v }, { log: createLogger({ quiet: true }) }), ['/usr/lib/cni']),
    );
    assert.is(config, runtime, `${v}: the config ${config ? 'accepts' : 'refuses'} it, the runtime ${runtime ? 'takes' : 'refuses'} it`);
    assert.is(config, Number.isInteger(v) && v >= 1 && v <= MAX_TIMEOUT_MS, `${v}`);
  }
});

test.run();
