import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCidr, prefixesOverlap } from '../src/index.js';

test('CIDR parsing and overlap, v4 and v6', () => {
  const a = parseCidr('192.168.199.0/24');
  const b = parseCidr('192.168.0.0/16');
  const c = parseCidr('192.168.200.0/24');
  assert.ok(a && b && c);
  assert.ok(prefixesOverlap(a!, b!));
  assert.not.ok(prefixesOverlap(a!, c!));
  const v6a = parseCidr('fde4:8dba:82e1::/64');
  const v6b = parseCidr('fde4:8dba:82e1::1/128');
  const v6c = parseCidr('fde4:8dba:82e2::/64');
  assert.ok(prefixesOverlap(v6a!, v6b!));
  assert.not.ok(prefixesOverlap(v6a!, v6c!));
  assert.is(parseCidr('300.1.1.1/24'), undefined);
  assert.is(parseCidr('10.0.0.0/33'), undefined);
  assert.is(parseCidr('::/129'), undefined);
});

test.run();
