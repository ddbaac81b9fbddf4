import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { probeKey, readProbeCache, writeProbeCache } from '../src/index.js';

test('probe cache: reused only for the same boot and the same tool files; never creates its folder', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't6probe-'));
  try {
    const key = probeKey();
    assert.ok(key.startsWith(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()), 'keyed by boot id');
    assert.match(key, /runc:\d+:/);
    const file = path.join(dir, 'preflight.json');
    assert.is(readProbeCache(file, key), undefined, 'nothing cached yet');
    writeProbeCache(file, key, { runc: 'runc version x' });
    assert.equal(readProbeCache(file, key), { runc: 'runc version x' });
    assert.is(readProbeCache(file, `${key}-other`), undefined, 'another boot or another binary: probe again');
    const missing = path.join(dir, 'nope', 'preflight.json');
    writeProbeCache(missing, key, {});
    assert.not.ok(existsSync(path.dirname(missing)), 'the cache folder is not created by the probe cache');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
