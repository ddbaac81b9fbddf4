import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Exec } from '../exec.js';

/** runc's view of a container: its folder under the runc root and what `runc state` says. */
export interface RuncState {
  id: string;
  pid: number;
  status: 'created' | 'running' | 'paused' | 'stopped' | 'creating';
  bundle: string;
}

/** runc's own folder for a container (present, without state.json, when a create was killed midway). */
export const runcDir = (runcRoot: string, id: string) => path.join(runcRoot, id);

/**
 * runc keeps <root>/<id>/state.json for every container it knows: without it there is nothing to ask
 * about, and one process per container is saved on a fresh up or a finished down.
 */
export const runcKnows = (runcRoot: string, id: string) => existsSync(path.join(runcDir(runcRoot, id), 'state.json'));

export async function runcState(exec: Exec, runcRoot: string, id: string): Promise<RuncState | undefined> {
  if (!runcKnows(runcRoot, id)) return undefined;
  const r = await exec('runc', ['--root', runcRoot, 'state', id], { allowFail: true });
  if (r.exitCode !== 0) return undefined;
  return JSON.parse(r.stdout) as RuncState;
}
