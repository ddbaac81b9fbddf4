import type { Config } from '@cni-demo/core';

/**
 * The walkthrough's network: bridge + host-local with both ranges, gateway on the bridge, masquerade,
 * default routes for both families.
 */
export function buildNetConf(c: Config, opts: { firewall?: boolean } = {}): Record<string, unknown> {
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet: c.subnet4, gateway: c.gateway4 }], [{ subnet: c.subnet6, gateway: c.gateway6 }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
  };
  if (c.ipamDataDir !== '/var/lib/cni/networks') ipam.dataDir = c.ipamDataDir;
  const plugins: Record<string, unknown>[] = [
    {
      type: 'bridge',
      bridge: c.bridge,
      isGateway: c.isGateway,
      ipMasq: c.ipMasq,
      ipam,
    },
  ];
  plugins.push(...chainedPlugins(c, opts));
  return { cniVersion: c.cniVersion, name: c.network, plugins };
}

/**
 * The port-mapping variant: portmap after bridge, told the mappings through runtimeConfig (capability
 * portMappings), with snat so the host's own connections to 127.0.0.1:<hostPort> are answered; firewall
 * first when the host's FORWARD policy would drop the bridge's traffic.
 */
export function chainedPlugins(c: Config, opts: { firewall?: boolean } = {}): Record<string, unknown>[] {
  if (c.portMap.trim() === '') return [];
  const out: Record<string, unknown>[] = [];
  if (opts.firewall) out.push({ type: 'firewall', backend: 'iptables' });
  out.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
  return out;
}
