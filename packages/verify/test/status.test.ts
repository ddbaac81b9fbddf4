import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readLeases, statusMain } from '../src/status.js';

test('leases: host-local files (id CRLF ifname) become address, container, ifname; lock and last_reserved skipped', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lease-'));
  const dir = path.join(root, 'tnet');
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
});

test('status: a bad option is refused with exit code 1 before anything is read', async () => {
  const saved = process.exitCode;
  assert.is(await statusMain(['--subnet4', 'not-a-cidr']), 1);
  assert.is(await statusMain(['--no-such-flag']), 1);
  process.exitCode = saved;
});

test.run();
