import { parseCidr } from './net.js';

/** One CNI `portMappings` entry (CONVENTIONS.md): what the portmap plugin reads from runtimeConfig. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/**
 * Parses "8080:80/tcp[,5353:53/udp]" (protocol defaults to tcp). Returns the mappings or a problem text
 * naming what is wrong, so config validation can report it before anything is created.
 */
export function parsePortMap(text: string): { mappings: PortMapping[]; problem?: string } {
  const mappings: PortMapping[] = [];
  if (text.trim() === '') return { mappings };
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const m = /^(\d+):(\d+)(?:\/([A-Za-z0-9]+))?$/.exec(item);
    if (!m) return { mappings, problem: `"${item}" is not a port mapping: write hostPort:containerPort[/tcp|/udp], e.g. 8080:80/tcp` };
    const hostPort = Number(m[1]);
    const containerPort = Number(m[2]);
    const protocol = (m[3] ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') {
      return { mappings, problem: `"${item}": protocol "${m[3]}" is not supported; the portmap plugin maps tcp or udp only` };
    }
    for (const [what, port] of [
      ['host port', hostPort],
      ['container port', containerPort],
    ] as const) {
      if (port < 1 || port > 65535) return { mappings, problem: `"${item}": ${what} ${port} is outside 1-65535` };
    }
    if (mappings.some((x) => x.hostPort === hostPort && x.protocol === protocol)) {
      return { mappings, problem: `"${item}": host port ${hostPort}/${protocol} is mapped twice` };
    }
    mappings.push({ hostPort, containerPort, protocol });
  }
  return { mappings };
}

/**
 * How many containers the subnets hold: every address of the range except the network address, the
 * gateway and the last one (IPv4 broadcast; host-local leaves it out of IPv6 ranges too). The smaller
 * family decides.
 */
export function subnetCapacity(subnet4: string, subnet6: string): number | undefined {
  const p4 = parseCidr(subnet4);
  const p6 = parseCidr(subnet6);
  if (!p4 || !p6) return undefined;
  const c4 = 2n ** BigInt(32 - p4.bits) - 3n;
  const c6 = 2n ** BigInt(128 - p6.bits) - 3n;
  const min = c4 < c6 ? c4 : c6;
  return min > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(min);
}
