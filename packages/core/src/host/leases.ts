import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * host-local's lease store, the one place that knows its layout: one file per address under <dataDir>/<network>/,
 * holding "<container id>\r\n<ifname>" (older plugins: the id alone), beside the plugin's own bookkeeping, its
 * lock file and last_reserved_ip.<range>.
 */
export interface Lease {
  address: string;
  containerId: string;
  ifname: string | undefined;
}

export const leaseDir = (dataDir: string, network: string) => path.join(dataDir, network);

/** The plugin's own files: no lease, and no content of ours once no lease is left. */
export const isLeaseBookkeeping = (file: string) => file === 'lock' || file.startsWith('last_reserved_ip');

/** Every lease of the network, by address; a missing store holds none, a file that vanishes meanwhile is skipped. */
export function readLeases(dataDir: string, network: string): Lease[] {
  const dir = leaseDir(dataDir, network);
  let files: string[];
  try {
    files = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: Lease[] = [];
  for (const f of files) {
    if (isLeaseBookkeeping(f)) continue;
    try {
      const [id, ifname] = readFileSync(path.join(dir, f), 'utf8').split(/\r?\n/);
      out.push({ address: f, containerId: (id ?? '').trim(), ifname: ifname?.trim() || undefined });
    } catch {
      /* vanished while we read: it is not there now */
    }
  }
  return out;
}
