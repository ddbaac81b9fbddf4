// iptables-save -t nat and ip6tables-save -t nat after Debian's containernetworking-plugins 1.1.1+ds1-3+b5 (bridge with
// ipMasq and host-local, then portmap) ran for two containers of the network "net1": c1 maps tcp 8080 -> 80 and
// tcp 8443 -> 443 on 127.0.0.1, c1-2 maps udp 5353 -> 53. Captured from that real run by
// `node packages/testkit/dist/scripts/capture-fixtures.mjs` (root); do not edit, run it again.

export const NAT4 = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-9edd1d169bd00d16c1421008 - [0:0]
:CNI-DN-9edd1d169bd00d16c1421 - [0:0]
:CNI-DN-c2d892b58e87e28a12fe6 - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-MASQ - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
:CNI-c2d892b58e87e28a12fe6479 - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j CNI-c2d892b58e87e28a12fe6479
-A POSTROUTING -s 10.1.0.3/32 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j CNI-9edd1d169bd00d16c1421008
-A CNI-9edd1d169bd00d16c1421008 -d 10.1.0.0/24 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j ACCEPT
-A CNI-9edd1d169bd00d16c1421008 ! -d 224.0.0.0/4 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j MASQUERADE
-A CNI-DN-9edd1d169bd00d16c1421 -s 10.1.0.0/24 -p udp -m udp --dport 5353 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-9edd1d169bd00d16c1421 -s 127.0.0.1/32 -p udp -m udp --dport 5353 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-9edd1d169bd00d16c1421 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.1.0.3:53
-A CNI-DN-c2d892b58e87e28a12fe6 -s 10.1.0.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-c2d892b58e87e28a12fe6 -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-c2d892b58e87e28a12fe6 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80
-A CNI-DN-c2d892b58e87e28a12fe6 -s 10.1.0.0/24 -d 127.0.0.1/32 -p tcp -m tcp --dport 8443 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-c2d892b58e87e28a12fe6 -s 127.0.0.1/32 -d 127.0.0.1/32 -p tcp -m tcp --dport 8443 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-c2d892b58e87e28a12fe6 -d 127.0.0.1/32 -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.1.0.2:443
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"net1\\" id: \\"c1\\"" -m multiport --dports 8080,8443 -j CNI-DN-c2d892b58e87e28a12fe6
-A CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \\"net1\\" id: \\"c1-2\\"" -m multiport --dports 5353 -j CNI-DN-9edd1d169bd00d16c1421
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
-A CNI-c2d892b58e87e28a12fe6479 -d 10.1.0.0/24 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j ACCEPT
-A CNI-c2d892b58e87e28a12fe6479 ! -d 224.0.0.0/4 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j MASQUERADE
COMMIT
`;

export const NAT6 = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-9edd1d169bd00d16c1421008 - [0:0]
:CNI-DN-9edd1d169bd00d16c1421 - [0:0]
:CNI-DN-c2d892b58e87e28a12fe6 - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-MASQ - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
:CNI-c2d892b58e87e28a12fe6479 - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A POSTROUTING -s fd00:1::2/128 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j CNI-c2d892b58e87e28a12fe6479
-A POSTROUTING -s fd00:1::3/128 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j CNI-9edd1d169bd00d16c1421008
-A CNI-9edd1d169bd00d16c1421008 -d fd00:1::/64 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j ACCEPT
-A CNI-9edd1d169bd00d16c1421008 ! -d ff00::/8 -m comment --comment "name: \\"net1\\" id: \\"c1-2\\"" -j MASQUERADE
-A CNI-DN-9edd1d169bd00d16c1421 -s fd00:1::/64 -p udp -m udp --dport 5353 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-9edd1d169bd00d16c1421 -p udp -m udp --dport 5353 -j DNAT --to-destination [fd00:1::3]:53
-A CNI-DN-c2d892b58e87e28a12fe6 -s fd00:1::/64 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-c2d892b58e87e28a12fe6 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:1::2]:80
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"net1\\" id: \\"c1\\"" -m multiport --dports 8080,8443 -j CNI-DN-c2d892b58e87e28a12fe6
-A CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \\"net1\\" id: \\"c1-2\\"" -m multiport --dports 5353 -j CNI-DN-9edd1d169bd00d16c1421
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
-A CNI-c2d892b58e87e28a12fe6479 -d fd00:1::/64 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j ACCEPT
-A CNI-c2d892b58e87e28a12fe6479 ! -d ff00::/8 -m comment --comment "name: \\"net1\\" id: \\"c1\\"" -j MASQUERADE
COMMIT
`;
