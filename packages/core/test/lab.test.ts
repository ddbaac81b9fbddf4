import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  containerIds,
  containerNames,
  createProgress,
  formatEta,
  httpdContainerId,
  isNumberedContainerOf,
  mapLimit,
  parsePortMap,
  resolveConfig,
  subnetCapacity,
} from '../src/index.js';
import { problem } from './problem.js';

test('capacity: the smaller subnet decides, minus network, gateway and broadcast', () => {
  assert.is(subnetCapacity('10.0.0.0/24', 'fd00::/64'), 253);
  assert.is(subnetCapacity('10.0.0.0/30', 'fd00::/64'), 1);
  assert.is(subnetCapacity('10.0.0.0/16', 'fd00::/120'), 253);
  assert.is(subnetCapacity('nope', 'fd00::/64'), undefined);
});

test('containers: 0, negative and above capacity are refused naming the field', () => {
  for (const n of ['0', '-3']) {
    const e = problem(() => resolveConfig({ env: {}, argv: ['--containers', n] }));
    assert.is(e.field, 'containers');
    assert.match(e.message, /use 1 or more/);
  }
  const e = problem(() => resolveConfig({ env: {}, argv: ['--containers', '254', '--subnet4', '10.9.0.0/24', '--gateway4', '10.9.0.1'] }));
  assert.is(e.field, 'containers');
  assert.match(e.message, /hold 253/);
  assert.is(resolveConfig({ env: {}, argv: ['--containers', '253'] }).config.containers, 253);
  const big = resolveConfig({ env: {}, file: { containers: 1000, subnet4: '10.9.0.0/22', gateway4: '10.9.0.1' } });
  assert.is(big.config.containers, 1000);
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

test('names: one container keeps the walkthrough paths; many get their own folders', () => {
  const one = resolveConfig({ env: {}, argv: ['--id', 'x'] }).config;
  assert.equal(containerIds(one), ['x']);
  assert.is(containerNames(one, 'x').bundleDir, '/run/cni-demo/x/bundle');
  assert.is(containerNames(one, 'x').netnsPath, '/var/run/netns/x');
  assert.is(httpdContainerId(one), undefined);
  const many = resolveConfig({
    env: {},
    argv: ['--id', 'x', '--containers', '3', '--port-map', '8080:80', '--httpd-container', '2'],
  }).config;
  assert.equal(containerIds(many), ['x-1', 'x-2', 'x-3']);
  const n = containerNames(many, 'x-3');
  assert.is(n.index, 3);
  assert.is(n.bundleDir, '/run/cni-demo/x/containers/x-3/bundle');
  assert.is(n.rootfsMount, '/run/cni-demo/x/containers/x-3/rootfs');
  assert.is(n.netnsPath, '/var/run/netns/x-3');
  assert.is(httpdContainerId(many), 'x-2');
});

test('mapLimit: never more than the limit at once, order kept, first error after all settled', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5 + (x % 3)));
    running--;
    return x * 2;
  });
  assert.equal(out, [2, 4, 6, 8, 10, 12, 14]);
  assert.is(peak, 3);
  const seen: number[] = [];
  try {
    await mapLimit([1, 2, 3], 2, async (x) => {
      seen.push(x);
      if (x === 1) throw new Error('boom');
      return x;
    });
    assert.unreachable('should throw');
  } catch (e) {
    assert.is((e as Error).message, 'boom');
  }
  assert.equal(seen.sort(), [1, 2, 3]);
});

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return {
    chunks,
    stream: { isTTY, write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WritableStream & { isTTY: boolean },
  };
}

test('progress: plain lines with an ETA when not a TTY', () => {
  let t = 0;
  const { chunks, stream } = sink(false);
  const p = createProgress('attach', 4, { stream, now: () => t, every: 2 });
  for (let i = 0; i < 4; i++) {
    t += 1000;
    p.tick();
  }
  p.done();
  assert.equal(chunks, ['attach 2/4 eta 2s\n', 'attach 4/4\n']);
  assert.not.ok(chunks.join('').includes('\r'));
});

test('progress: a bar redrawn in place on a TTY, ended by one line', () => {
  let t = 0;
  const { chunks, stream } = sink(true);
  const p = createProgress('attach', 2, { stream, now: () => t });
  t = 2000;
  p.tick();
  p.done();
  assert.ok(chunks.every((c) => c.startsWith('\r')));
  assert.match(chunks[1] ?? '', /\[#{12}\.{12}\] 1\/2 eta 2s/);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the progress line ends with an erase-line escape
  assert.match(chunks[2] ?? '', /attach 1\/2 in 2s\x1b\[K\n$/);
  assert.is(formatEta(125_000), '2m05s');
});

test('numbered container names belong to their instance only', () => {
  const { config } = resolveConfig({ env: {}, argv: ['--id', 'lab.1'] });
  assert.ok(isNumberedContainerOf(config, 'lab.1-7'));
  assert.not.ok(isNumberedContainerOf(config, 'lab.1'));
  assert.not.ok(isNumberedContainerOf(config, 'labx1-7'), 'a dot in the id is not a wildcard');
  assert.not.ok(isNumberedContainerOf(config, 'lab.1-7x'));
  assert.not.ok(isNumberedContainerOf(config, 'lab.1-'));
});

test.run();
