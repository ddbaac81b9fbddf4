import { parseLinks } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toIface } from '../src/topology.js';

test("a link becomes the report's interface: addresses as addr/len, with its veth peer index", () => {
  const text = JSON.stringify([
    {
      ifindex: 2,
      link_index: 31,
      ifname: 'eth0',
      flags: ['UP'],
      mtu: 1500,
      address: 'aa:bb:cc:dd:ee:ff',
      link_netnsid: 0,
      linkinfo: { info_kind: 'veth' },
      addr_info: [
        { family: 'inet', local: '10.0.0.2', prefixlen: 24 },
        { family: 'inet6', local: 'fd00::2', prefixlen: 64 },
      ],
    },
    { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK'] },
  ]);
  const got = parseLinks(text).map(toIface);
  assert.is(got[0]?.name, 'eth0');
  assert.is(got[0]?.kind, 'veth');
  assert.is(got[0]?.peerIfindex, 31);
  assert.equal(got[0]?.addrs, ['10.0.0.2/24', 'fd00::2/64']);
  assert.is(got[1]?.up, false);
  assert.equal(got[1]?.addrs, []);
});

test.run();
