import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderMermaid } from '../src/mermaid.js';
import { nodesTopo, topo } from './topology-fixture.js';

test('the mermaid block links each veth pair across the netns boundary', () => {
  const m = renderMermaid(topo());
  assert.ok(m.startsWith('flowchart TB'));
  assert.match(m, /hv_veth1a2b ---\|veth pair\| ns_c_1_if_eth0/);
  // quotes and angle brackets become Mermaid entities so the label cannot end early
  assert.not.match(m, /cbr<&>"x/);
  assert.match(m, /cbr#lt;&#gt;#quot;x/);
});

test('several nodes: the mermaid block has a subgraph per node, its veth to the underlay and its containers', () => {
  const m = renderMermaid(nodesTopo());
  assert.match(m, /subgraph node_lab_n1\["node 1 lab-n1"\]/);
  assert.match(m, /hv_ul9_2 ---\|veth pair\| node_lab_n2_ul/);
  assert.match(m, /node_lab_n1_br ---\|veth pair veth1\| ns_lab_n1_1/);
  assert.match(m, /routes to the other nodes<br\/>10\.6\.1\.0\/24 via 10\.5\.0\.12 dev ul0/);
});

test.run();
