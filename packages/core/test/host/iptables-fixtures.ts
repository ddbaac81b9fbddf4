/** iptables-save texts as the Debian plugins leave them, shared by the suites that read or remove rules. */

// what iptables-save -t nat prints after the bridge plugin's ipMasq for two containers of one network
export const SAVE = `*nat
:POSTROUTING ACCEPT [0:0]
:CNI-aaa111 - [0:0]
:CNI-bbb222 - [0:0]
-A POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j CNI-aaa111
-A POSTROUTING -s 10.1.0.3/32 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j CNI-bbb222
-A CNI-aaa111 -d 10.1.0.0/24 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j ACCEPT
-A CNI-aaa111 ! -d 224.0.0.0/4 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j MASQUERADE
-A CNI-bbb222 ! -d 224.0.0.0/4 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j MASQUERADE
COMMIT
`;

// as the Debian portmap plugin 1.1.1 writes them (iptables-save -t nat), one IPv4 and one IPv6 container
export const DNAT_SAVE = `*nat
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
