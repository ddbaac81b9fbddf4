import { isIP, isIPv6 } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ipFamily, ipToBigInt, isIPv6Address, parseCidr, prefixesOverlap } from '../src/index.js';

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

test('isIPv6Address and ipFamily answer as node:net does, without its regular expression', () => {
  const cases = [
    '::',
    '::1',
    '1::',
    'fd00:c1d:18fa::1',
    'fde4:8dba:82e1::1',
    'FDE4:8DBA:82E1::1',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7::',
    '::2:3:4:5:6:7:8',
    '1::8',
    '1:2:3:4:5:6::8',
    '::ffff:192.168.199.2',
    '::192.168.199.2',
    '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5::1.2.3.4',
    'fe80::1%eth0',
    'fe80::1%cbr0.5',
    'fe80::1%',
    'fe80::1%a b',
    '0:0:0:0:0:0:0:0',
    '00000::1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '1::2::3',
    ':::',
    ':1::',
    '1::2:',
    ':1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:',
    '12345::1',
    'g::1',
    '::ffff:1.2.3',
    '::ffff:256.1.1.1',
    '1.2.3.4::',
    '::1.2.3.4:5',
    '1:2:3:4:5:6:7:1.2.3.4',
    '',
    ':',
    '192.168.199.1',
    '192.168.199.256',
    '1.2.3',
    'fd00::/64',
    ' ::1',
    '::1 ',
    '[::1]',
    '::1\n',
  ];
  for (const ip of cases) {
    assert.is(isIPv6Address(ip), isIPv6(ip), `isIPv6Address(${JSON.stringify(ip)})`);
    assert.is(ipFamily(ip), isIP(ip), `ipFamily(${JSON.stringify(ip)})`);
  }
  assert.equal(ipToBigInt('fe80::1%eth0'), { family: 6, value: (0xfe80n << 112n) | 1n });
  assert.equal(ipToBigInt('::ffff:1.2.3.4'), { family: 6, value: (0xffffn << 32n) | 0x01020304n });
});

test.run();
