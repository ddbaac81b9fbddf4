import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type ConfList, createContext, createLogger, describeNetwork, generatedNetwork, type NetworkView } from '@cni-demo/core';
import { removeRoot, testConfig } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { handMadeBridge, masterPeerName, networkNameProblems } from '../src/index.js';

const view = (name: string, plugins: Record<string, unknown>[]): NetworkView => {
  const bytes = Buffer.from(JSON.stringify({ name, plugins }));
  const l: ConfList = { name, cniVersion: '1.0.0', plugins: plugins as ConfList['plugins'], bytes, source: `/n/${name}.conflist` };
  return describeNetwork(l, { source: 'file', file: l.source });
};
const hl = (ranges: string[]) => ({ type: 'host-local', ranges: ranges.map((subnet) => [{ subnet }]) });

test("the walkthrough's hand-made bridge: only for a bridge with isGateway and one range of each family", () => {
  const both = hl(['10.5.0.0/24', 'fd00:5::/64']);
  assert.equal(handMadeBridge(view('w', [{ type: 'bridge', bridge: 'b1', isGateway: true, ipam: both }])), {
    name: 'b1',
    addrs: ['10.5.0.1/24', 'fd00:5::1/64'],
    subnetsFrom: '/n/w.conflist',
  });
  assert.is(handMadeBridge(view('w', [{ type: 'bridge', bridge: 'b1', ipam: both }])), undefined, 'isGateway off: the plugin makes it');
  assert.is(handMadeBridge(view('w', [{ type: 'bridge', isGateway: true, ipam: hl(['10.5.0.0/24']) }])), undefined, 'one family');
  assert.is(handMadeBridge(view('w', [{ type: 'ptp', ipam: both }])), undefined);
  assert.is(masterPeerName('m1'), 'm1-gw');
  assert.is(masterPeerName('a15charsnameabc'), 'a15charsname-gw', 'cut to fit 15 bytes');
});

test('a network name another instance runs with other content is refused; the same content is shared', async () => {
  const { root, config } = await testConfig();
  try {
    const ctx = createContext(config, { log: createLogger({ quiet: true }) });
    const mine = view(config.network, [{ type: 'ptp', ipam: hl(['10.6.0.0/24']) }]);
    const other = (v: NetworkView) => {
      mkdirSync(path.join(config.stateDir, 'other'), { recursive: true });
      writeFileSync(path.join(config.stateDir, 'other', 'host-setup.json'), JSON.stringify({ confFile: v.file, network: v }));
    };
    assert.equal(networkNameProblems(ctx, mine), [], 'no other instance');
    other(mine);
    assert.equal(networkNameProblems(ctx, mine), [], 'the same network: shared');
    other(generatedNetwork({ ...config }, '/x/10.conflist'));
    const [p] = networkNameProblems(ctx, mine);
    assert.match(p?.message ?? '', new RegExp(`network "${config.network}" is already run by instance "other" with a different config`));
    assert.is(p?.field, 'network');
  } finally {
    removeRoot(root);
  }
});

test.run();
