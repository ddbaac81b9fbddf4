import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgePorts } from '../src/host.js';

test('bridgePorts reads a bridge and its ports from a sysfs tree; undefined for no link or a non-bridge', () => {
  const sys = mkdtempSync(path.join(os.tmpdir(), 'core-sysnet-'));
  try {
    mkdirSync(path.join(sys, 'br0', 'bridge'), { recursive: true });
    mkdirSync(path.join(sys, 'br0', 'brif', 'vethb'), { recursive: true });
    mkdirSync(path.join(sys, 'br0', 'brif', 'vetha'), { recursive: true });
    mkdirSync(path.join(sys, 'br1', 'bridge'), { recursive: true });
    mkdirSync(path.join(sys, 'br1', 'brif'), { recursive: true });
    mkdirSync(path.join(sys, 'eth0'), { recursive: true });
    writeFileSync(path.join(sys, 'eth0', 'type'), '1\n');
    assert.equal(bridgePorts('br0', sys), ['vetha', 'vethb']);
    assert.equal(bridgePorts('br1', sys), []);
    assert.is(bridgePorts('eth0', sys), undefined);
    assert.is(bridgePorts('nope', sys), undefined);
  } finally {
    rmSync(sys, { recursive: true, force: true });
  }
});

test('bridgePorts on the real /sys/class/net: the loopback is no bridge, a missing name is nothing', () => {
  // lo exists on every host and is never a bridge
  execFileSync('ip', ['link', 'show', 'lo']);
  assert.is(bridgePorts('lo'), undefined);
  assert.is(bridgePorts('t6nolink0'), undefined);
});

test.run();
