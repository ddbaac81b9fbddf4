import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isLeaseBookkeeping, leaseDir, readLeases } from '../../src/index.js';

test('leases: host-local files (id CRLF ifname) become address, container, ifname; lock and last_reserved skipped', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lease-'));
  try {
    const dir = leaseDir(root, 'tnet');
    mkdirSync(dir);
    writeFileSync(path.join(dir, '10.1.0.2'), 't-abc\r\neth0');
    writeFileSync(path.join(dir, 'fd00::2'), 't-abc\r\neth0');
    writeFileSync(path.join(dir, '10.1.0.3'), 'old-style-id');
    writeFileSync(path.join(dir, 'lock'), '');
    writeFileSync(path.join(dir, 'last_reserved_ip.0'), '10.1.0.3');
    assert.equal(readLeases(root, 'tnet'), [
      { address: '10.1.0.2', containerId: 't-abc', ifname: 'eth0' },
      { address: '10.1.0.3', containerId: 'old-style-id', ifname: undefined },
      { address: 'fd00::2', containerId: 't-abc', ifname: 'eth0' },
    ]);
    assert.equal(readLeases(root, 'absent'), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the plugin's bookkeeping is no lease", () => {
  assert.ok(isLeaseBookkeeping('lock'));
  assert.ok(isLeaseBookkeeping('last_reserved_ip.0'));
  assert.not.ok(isLeaseBookkeeping('10.1.0.2'));
  assert.not.ok(isLeaseBookkeeping('fd00::2'));
});

test.run();
