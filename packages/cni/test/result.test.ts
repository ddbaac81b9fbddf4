import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, convertResult, parseResult, type LegacyResult, type Result } from '../src/index.js';

const r100: Result = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '00:11:22:33:44:55', sandbox: '/ns', mtu: 1400, socketPath: '/s', pciID: '0000:00:01.0' }],
  ips: [
    { address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 0 },
    { address: 'fd00::2/64', gateway: 'fd00::1', interface: 0 },
    { address: '10.1.0.3/24', interface: 0 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1300 },
    { dst: '::/0', gw: 'fd00::1' },
  ],
  dns: { nameservers: ['10.1.0.1'] },
};

test('1.1.0 -> 0.4.0: version per address family, 1.1 interface extras dropped, routes copied', () => {
  const r = convertResult(r100, '0.4.0') as Result;
  assert.is(r.cniVersion, '0.4.0');
  assert.equal(r.interfaces, [{ name: 'eth0', mac: '00:11:22:33:44:55', sandbox: '/ns' }]);
  assert.equal(
    r.ips?.map((i) => i.version),
    ['4', '6', '4'],
  );
  assert.equal(r.routes, r100.routes);
  assert.equal(r.dns, r100.dns);
});

test('0.4.0 -> 1.0.0 drops ips[].version; 1.0.0 <-> 1.1.0 relabels', () => {
  const r040 = convertResult(r100, '0.4.0');
  const r1 = convertResult(r040, '1.0.0') as Result;
  assert.is(r1.cniVersion, '1.0.0');
  assert.ok(r1.ips?.every((i) => !('version' in i)));
  const back = convertResult(r1, '1.1.0') as Result;
  assert.is(back.cniVersion, '1.1.0');
  assert.equal(back.ips, r1.ips);
});

test('to 0.2.0: first IPv4 and first IPv6, routes by family, no interfaces; no IPs is an error', () => {
  const l = convertResult(r100, '0.2.0') as LegacyResult;
  assert.equal(l, {
    cniVersion: '0.2.0',
    ip4: { ip: '10.1.0.2/24', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1300 }] },
    ip6: { ip: 'fd00::2/64', gateway: 'fd00::1', routes: [{ dst: '::/0', gw: 'fd00::1' }] },
    dns: { nameservers: ['10.1.0.1'] },
  });
  assert.throws(
    () => convertResult({ cniVersion: '1.0.0', interfaces: [{ name: 'x' }] }, '0.2.0'),
    (e: unknown) => e instanceof CniError && /no IPs/.test(e.message),
  );
});

test('0.1.0/0.2.0 -> rich: ip4/ip6 become ips, routes merged', () => {
  const legacy: LegacyResult = {
    cniVersion: '0.1.0',
    ip4: { ip: '10.2.0.5/16', gateway: '10.2.0.1', routes: [{ dst: '0.0.0.0/0' }] },
    ip6: { ip: 'fd01::5/64', routes: [{ dst: '::/0' }] },
  };
  const r = convertResult(legacy, '0.3.1') as Result;
  assert.equal(r.ips, [
    { version: '4', address: '10.2.0.5/16', gateway: '10.2.0.1' },
    { version: '6', address: 'fd01::5/64' },
  ]);
  assert.equal(r.routes, [{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
  assert.throws(() => convertResult(legacy, '0.9.0'), /unknown version/);
});

test('parseResult: missing version means the request version, null is {}, garbage and unknown versions are errors', () => {
  assert.is(parseResult('{"ips":[]}', '1.0.0').cniVersion, '1.0.0');
  assert.is(parseResult('null', '0.4.0').cniVersion, '0.4.0');
  assert.throws(
    () => parseResult('', '1.0.0', 'p'),
    (e: unknown) => e instanceof CniError && e.code === 6 && /failed to unmarshal/.test(e.msg) && e.plugin === 'p',
  );
  assert.throws(() => parseResult('hello', '1.0.0'), /failed to unmarshal raw result/);
  assert.throws(() => parseResult('{"cniVersion":"7.0.0"}', '1.0.0'), /unsupported CNI result version "7.0.0"/);
  assert.throws(() => parseResult('[1]', '1.0.0'), /not a JSON object/);
});

test.run();
