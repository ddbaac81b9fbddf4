import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, isMountPoint } from '@cni-demo/core';

export interface RuncState {
  id: string;
  pid: number;
  status: 'created' | 'running' | 'paused' | 'stopped' | 'creating';
  bundle: string;
}

export const runcArgs = (ctx: Ctx, ...args: string[]) => ['--root', ctx.config.runcRoot, ...args];

/**
 * runc keeps <root>/<id>/state.json for every container it knows: without it there is nothing to ask
 * about, and one process per container is saved on a fresh up or a finished down.
 */
export const runcKnows = (ctx: Ctx, id: string) => existsSync(path.join(ctx.config.runcRoot, id, 'state.json'));

export async function runcState(ctx: Ctx, id: string): Promise<RuncState | undefined> {
  if (!runcKnows(ctx, id)) return undefined;
  const r = await ctx.exec('runc', runcArgs(ctx, 'state', id), { allowFail: true });
  if (r.exitCode !== 0) return undefined;
  return JSON.parse(r.stdout) as RuncState;
}

export { isMountPoint };

/** True when the pin at `file` is the same network namespace as the process `pid` is in. */
export function pinMatches(file: string, pid: number): boolean {
  try {
    if (!existsSync(file) || !isMountPoint(file)) return false;
    return statSync(file).ino === statSync(`/proc/${pid}/ns/net`).ino;
  } catch {
    return false;
  }
}
