import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, requireRoot, UserError } from '@cni-demo/core';
import { removeReport } from './report.js';

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

/** Runs last in down: proves the interface and the lease are gone, then drops verify's own state. */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('verify down');
  const problems: string[] = [];
  if (existsSync(ctx.names.netnsPath)) problems.push(`netns pin ${ctx.names.netnsPath} still exists`);
  const leases = leasesOf(ctx);
  if (leases.length > 0) problems.push(`host-local still leases ${leases.join(', ')} to ${ctx.names.containerId}`);
  ctx.state.remove('verify');
  removeReport(ctx);
  ctx.state.removeDirIfEmpty();
  if (problems.length > 0) {
    throw new UserError(`teardown left things behind: ${problems.join('; ')}`, { hint: 'run down again; it removes what it finds by name' });
  }
  ctx.log.info(`${ctx.config.ifname} is gone and no lease is held for ${ctx.names.containerId}`);
}
