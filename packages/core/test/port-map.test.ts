import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePortMap, resolveConfig, subnetCapacity } from '../src/index.js';
import { problem } from './problem.js';

test('capacity: the smaller subnet decides, minus network, gateway and broadcast', () => {
  assert.is(subnetCapacity('10.0.0.0/24', 'fd00::/64'), 253);
  assert.is(subnetCapacity('10.0.0.0/30', 'fd00::/64'), 1);
  assert.is(subnetCapacity('10.0.0.0/16', 'fd00::/120'), 253);
  assert.is(subnetCapacity('nope', 'fd00::/64'), undefined);
});

test('portMap: parsed with tcp as default; bad protocol, port and shape refused', () => {
  assert.equal(parsePortMap('8080:80').mappings, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  assert.equal(parsePortMap('8080:80/TCP, 5353:53/udp').mappings, [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp' },
  ]);
  assert.equal(parsePortMap('').mappings, []);
  assert.match(parsePortMap('8080:80/sctp').problem ?? '', /tcp or udp/);
  assert.match(parsePortMap('70000:80').problem ?? '', /outside 1-65535/);
  assert.match(parsePortMap('0:80').problem ?? '', /outside 1-65535/);
  assert.match(parsePortMap('8080').problem ?? '', /hostPort:containerPort/);
  assert.match(parsePortMap('8080:80,8080:81').problem ?? '', /twice/);
  const e = problem(() => resolveConfig({ env: {}, argv: ['--port-map', '8080:80/icmp'] }));
  assert.is(e.field, 'portMap');
  const e2 = problem(() =>
    resolveConfig({ env: { CNI_DEMO_PORT_MAP: '8080:80', CNI_DEMO_HTTPD_CONTAINER: '3' }, argv: ['--containers', '2'] }),
  );
  assert.is(e2.field, 'httpdContainer');
});

test.run();
