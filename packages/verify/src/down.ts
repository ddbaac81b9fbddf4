import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { containerIds, containerNames, type Ctx, requireRoot, UserError } from '@cni-demo/core';

/** Leases host-local still holds for our containers (files under <dataDir>/<network>/ naming one). */
export function leasesOf(ctx: Ctx, ids: string[] = [ctx.names.containerId]): string[] {
  const dir = path.join(ctx.config.ipamDataDir, ctx.config.network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => {
    if (f === 'lock' || f.startsWith('last_reserved_ip')) return false;
    try {
      return ids.includes(readFileSync(path.join(dir, f), 'utf8').split(/\r?\n/)[0]?.trim() ?? '');
    } catch {
      return false;
    }
  });
}

/** Runs last in down: proves the interface and the lease are gone, then drops verify's own state. */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('verify down');
  const problems: string[] = [];
  // the configured ids plus any <id>-<n> still pinned or leased (a down run with another --containers)
  const many = new RegExp(`^${ctx.config.id.replace(/[.]/g, '\\.')}-\\d+$`);
  const ids = [...new Set([...containerIds(ctx.config), ...listDir(ctx.config.netnsDir).filter((f) => many.test(f)), ...leaseOwners(ctx).filter((o) => many.test(o))])];
  const pins = ids.map((id) => path.join(ctx.config.netnsDir, id)).filter((p) => existsSync(p));
  if (pins.length > 0) problems.push(`netns pins still exist: ${pins.slice(0, 5).join(', ')}${pins.length > 5 ? ' …' : ''}`);
  const leases = leasesOf(ctx, ids);
  if (leases.length > 0) problems.push(`host-local still leases ${leases.slice(0, 5).join(', ')}${leases.length > 5 ? ' …' : ''} to ${ctx.config.id}`);
  const mounts = ids.map((id) => containerNames(ctx.config, id).rootfsMount).filter((m) => isMounted(m));
  if (mounts.length > 0) problems.push(`overlay rootfs still mounted: ${mounts.slice(0, 5).join(', ')}`);
  ctx.state.remove('verify');
  ctx.state.removeDirIfEmpty();
  if (problems.length > 0) {
    throw new UserError(`teardown left things behind: ${problems.join('; ')}`, { hint: 'run down again; it removes what it finds by name' });
  }
  ctx.log.info(`${ctx.config.ifname} is gone and no lease is held for ${ids.length === 1 ? ctx.names.containerId : `${ids.length} containers`}`);
}

function isMounted(file: string): boolean {
  let real: string;
  try {
    real = path.join(realpathSync(path.dirname(file)), path.basename(file));
  } catch {
    return false;
  }
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === real);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Container ids holding a host-local lease on our network. */
function leaseOwners(ctx: Ctx): string[] {
  const dir = path.join(ctx.config.ipamDataDir, ctx.config.network);
  return listDir(dir)
    .filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'))
    .map((f) => {
      try {
        return readFileSync(path.join(dir, f), 'utf8').split(/\r?\n/)[0]?.trim() ?? '';
      } catch {
        return '';
      }
    });
}
