import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderMermaid } from '../src/mermaid.js';
import { topo } from './topology-fixture.js';

test('the mermaid block links each veth pair across the netns boundary', () => {
  const m = renderMermaid(topo());
  assert.ok(m.startsWith('flowchart TB'));
  assert.match(m, /hv_veth1a2b ---\|veth pair\| ns_c_1_if_eth0/);
  // quotes and angle brackets become Mermaid entities so the label cannot end early
  assert.not.match(m, /cbr<&>"x/);
  assert.match(m, /cbr#lt;&#gt;#quot;x/);
});

test.run();
