import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseIpAddrJson, parsePortMappings, parseRoutesJson } from '../src/topology.js';

// as the Debian portmap plugin 1.1.1 writes them (iptables-save -t nat), one IPv4 and one IPv6 container
const SAVE = `*nat
:CNI-DN-1b2c3d4e5f60718293a4b5c6 - [0:0]
:CNI-DN-aaaabbbbccccddddeeeeffff - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"tnet\\" id: \\"t-abc\\"" -m multiport --dports 8080,8443 -j CNI-DN-1b2c3d4e5f60718293a4b5c6
-A CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \\"tnet\\" id: \\"t-def\\"" -m multiport --dports 5353 -j CNI-DN-aaaabbbbccccddddeeeeffff
-A CNI-DN-1b2c3d4e5f60718293a4b5c6 -s 10.88.0.2/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-1b2c3d4e5f60718293a4b5c6 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.2:80
-A CNI-DN-1b2c3d4e5f60718293a4b5c6 -d 127.0.0.1/32 -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.88.0.2:443
-A CNI-DN-aaaabbbbccccddddeeeeffff -p udp -m udp --dport 5353 -j DNAT --to-destination [fd00::5]:53
COMMIT
`;

test('port mappings come from the CNI-DN chains, owners from the CNI-HOSTPORT-DNAT comments', () => {
  assert.equal(parsePortMappings(SAVE), [
    {
      protocol: 'tcp',
      hostIp: undefined,
      hostPort: 8080,
      containerIp: '10.88.0.2',
      containerPort: 80,
      chain: 'CNI-DN-1b2c3d4e5f60718293a4b5c6',
      containerId: 't-abc',
    },
    {
      protocol: 'tcp',
      hostIp: '127.0.0.1',
      hostPort: 8443,
      containerIp: '10.88.0.2',
      containerPort: 443,
      chain: 'CNI-DN-1b2c3d4e5f60718293a4b5c6',
      containerId: 't-abc',
    },
    {
      protocol: 'udp',
      hostIp: undefined,
      hostPort: 5353,
      containerIp: 'fd00::5',
      containerPort: 53,
      chain: 'CNI-DN-aaaabbbbccccddddeeeeffff',
      containerId: 't-def',
    },
  ]);
  assert.equal(parsePortMappings('*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n'), []);
});

test('ip -j addr output becomes interfaces with their veth peer index', () => {
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
  const got = parseIpAddrJson(text);
  assert.is(got[0]?.name, 'eth0');
  assert.is(got[0]?.kind, 'veth');
  assert.is(got[0]?.peerIfindex, 31);
  assert.equal(got[0]?.addrs, ['10.0.0.2/24', 'fd00::2/64']);
  assert.is(got[1]?.up, false);
  assert.equal(got[1]?.addrs, []);
  assert.equal(parseIpAddrJson(''), []);
});

test('ip -j route output keeps destination, gateway and device', () => {
  const got = parseRoutesJson(JSON.stringify([{ dst: 'default', gateway: '10.0.0.1', dev: 'eth0', flags: [] }]), 4);
  assert.equal(got, [{ family: 4, dst: 'default', gateway: '10.0.0.1', dev: 'eth0', scope: undefined, protocol: undefined }]);
});

test.run();
