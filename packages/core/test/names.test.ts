import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { containerIds, containerNames, httpdContainerId, resolveConfig } from '../src/index.js';

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

test.run();
