import type { Config } from '@cni-demo/core';

/**
 * The walkthrough's network: bridge + host-local with both ranges, gateway on the bridge, masquerade,
 * default routes for both families.
 */
export function buildNetConf(c: Config): Record<string, unknown> {
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet: c.subnet4, gateway: c.gateway4 }], [{ subnet: c.subnet6, gateway: c.gateway6 }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
  };
  if (c.ipamDataDir !== '/var/lib/cni/networks') ipam.dataDir = c.ipamDataDir;
  return {
    cniVersion: c.cniVersion,
    name: c.network,
    plugins: [
      {
        type: 'bridge',
        bridge: c.bridge,
        isGateway: c.isGateway,
        ipMasq: c.ipMasq,
        ipam,
      },
    ],
  };
}
