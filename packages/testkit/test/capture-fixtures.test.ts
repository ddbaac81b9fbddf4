import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PACKAGES_DIR } from '../src/procs.js';

/**
 * The iptables fixtures the core suites parse are the real plugins' output: capturing them again from a real run
 * on this host (in a private namespace) must give the committed file byte for byte.
 */
test('core’s iptables fixtures are what this host’s bridge and portmap plugins print (capture-fixtures --check)', () => {
  const script = path.join(PACKAGES_DIR, 'testkit', 'dist', 'scripts', 'capture-fixtures.mjs');
  const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /iptables-fixtures\.ts is current/);
});

test.run();
