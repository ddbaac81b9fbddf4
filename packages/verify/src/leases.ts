import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Ctx } from '@cni-demo/core';

/** Leases host-local still holds for our container (files under <dataDir>/<network>/ naming it). */
export function leasesOf(ctx: Ctx): string[] {
  const dir = path.join(ctx.config.ipamDataDir, ctx.config.network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => {
    if (f === 'lock' || f.startsWith('last_reserved_ip')) return false;
    try {
      return readFileSync(path.join(dir, f), 'utf8').split(/\r?\n/)[0]?.trim() === ctx.names.containerId;
    } catch {
      return false;
    }
  });
}
