import { parseXml, xmlTexts } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderSvg } from '../src/svg.js';
import type { Topology } from '../src/topology.js';
import { nodesTopo, topo } from './topology-fixture.js';

test('the SVG is well-formed XML and names every interface, even with characters XML must escape', () => {
  const t = topo();
  const root = parseXml(renderSvg(t, 'a & b'));
  assert.is(root.name, 'svg');
  assert.is(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
  const texts = xmlTexts(root).join('\n');
  for (const name of [
    'cbr<&>"x',
    'veth1a2b',
    'vethorphan',
    'lo',
    'eth0',
    '10.9.0.2/24',
    'fd00::1/64',
    "netns of c'1",
    '*:8080/tcp -> 10.9.0.2:80',
  ]) {
    assert.ok(texts.includes(name), `SVG text has ${name}`);
  }
});

test('an empty topology (nothing left on the host) still draws a valid SVG', () => {
  const t: Topology = { readAt: '', bridge: undefined, ports: [], hostRoutes: [], containers: [], veths: [], mappings: [] };
  const root = parseXml(renderSvg(t));
  assert.ok(xmlTexts(root).some((s) => s.includes('no bridge found')));
});

test('several nodes: the SVG shows the underlay bridge, each node with its link ends, bridge, routes and containers', () => {
  const texts = xmlTexts(parseXml(renderSvg(nodesTopo()))).join('\n');
  for (const want of [
    'ul9 (bridge)',
    'ul9-1',
    'ul9-2',
    'node 1 lab-n1',
    'node 2 lab-n2',
    '10.5.0.11/24',
    'br<0> (bridge)',
    '10.6.1.0/24 via 10.5.0.12 dev ul0',
    'netns of lab-n2-1',
    'eth0 10.6.1.2/24',
    'host end veth2',
  ]) {
    assert.ok(texts.includes(want), `SVG text has ${want}`);
  }
});

test.run();
