import { lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import type { Exec } from '../exec.js';
import { containerIds } from '../names.js';
import { mapLimit } from '../progress.js';
import type { RootlessUser } from '../states.js';
import { mountFsType, pinMatches, realMountPath } from './mounts.js';
import { type RuncState, runcState } from './runc.js';

/**
 * Who owns a container id, a runc container, a netns pin, a CNI attachment. down acts only on what its own
 * instance made, and up never takes over what another made. The records:
 *
 * - the instance's state files (runc-bundle's containers, cni-attach's attachments);
 * - a bundle folder in the instance's run folder, made before `runc create` and before the netns pin and
 *   removed only after both are gone: the record that survives a kill halfway;
 * - on the objects: runc's own state names the bundle a container was made from (ours when it is one of
 *   our bundle folders); a CNI attachment carries the instance's mark in its CNI_ARGS, which libcni's cache
 *   keeps; the bridge carries its alias (marks.ts).
 *
 * A netns pin has no mark of its own: it is ours when its container id is, and it is a bind-mounted
 * network namespace (or the empty file we create before mounting one).
 */

/** The run folder of instance `id` under `stateDir`. */
const runDirOf = (stateDir: string, id: string) => path.join(stateDir, id);

/** The CNI_ARGS key whose value marks an attachment as made by one instance. */
export const OWNER_ARG = 'CNI_DEMO_OWNER';

/** The mark an instance's CNI attachments carry (its run folder: unique on the host). */
export function ownerMark(config: Config): string {
  return runDirOf(config.stateDir, config.id);
}

/** Every bundle folder this instance may keep for container `cid`: both layouts (--containers may have changed since) and rootless. */
export function ownBundleDirs(config: Config, cid: string): string[] {
  const runDir = runDirOf(config.stateDir, config.id);
  const out = [path.join(runDir, 'containers', cid, 'bundle')];
  if (cid === config.id) out.push(path.join(runDir, 'bundle'), path.join(`${config.stateDir}-rootless`, config.id, 'bundle'));
  return out;
}

/** True when a runc container's bundle (from `runc state`) is one of this instance's bundle folders for it. */
export function isOwnBundle(config: Config, cid: string, bundle: string): boolean {
  const want = path.resolve(bundle);
  return ownBundleDirs(config, cid).some((d) => path.resolve(d) === want);
}

const isDir = (p: string) => {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
};

function jsonFile(file: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Container ids a state file lists (its `containerId` and those of its `containers` / `attachments`). */
function stateIds(file: string): string[] {
  const s = jsonFile(file);
  if (!s) return [];
  const list = [...((s.containers as unknown[]) ?? []), ...((s.attachments as unknown[]) ?? [])] as { containerId?: unknown }[];
  return [s.containerId, ...list.map((x) => x?.containerId)].filter((x): x is string => typeof x === 'string');
}

/**
 * The container ids instance `id` (its run folder under `stateDir`) has a record of: its state files' and
 * those it keeps a bundle folder for.
 */
export function instanceClaims(stateDir: string, id: string): Set<string> {
  const runDir = runDirOf(stateDir, id);
  const out = new Set<string>([...stateIds(path.join(runDir, 'runc-bundle.json')), ...stateIds(path.join(runDir, 'cni-attach.json'))]);
  if (isDir(path.join(runDir, 'bundle')) || isDir(path.join(`${stateDir}-rootless`, id, 'bundle'))) out.add(id);
  try {
    for (const d of readdirSync(path.join(runDir, 'containers'))) if (isDir(path.join(runDir, 'containers', d, 'bundle'))) out.add(d);
  } catch {
    /* no many-container layout */
  }
  return out;
}

/** The container ids this instance has a record of (state files, bundle folders). */
export const recordedContainerIds = (config: Config): Set<string> => instanceClaims(config.stateDir, config.id);

/** The other instances under the same state folder (each a folder with its id as name). */
function otherInstances(config: Config): string[] {
  try {
    return readdirSync(config.stateDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== config.id)
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/**
 * The other instance that owns container id `cid`, or undefined: one whose records name it, or one whose
 * own id is `cid` (a single-container instance names its container after itself, even before it made it).
 */
export function claimedByOther(config: Config, cid: string): string | undefined {
  for (const other of otherInstances(config)) {
    if (other === cid || instanceClaims(config.stateDir, other).has(cid)) return other;
  }
  return undefined;
}

export type PinKind = 'absent' | 'netns' | 'placeholder' | 'other';

/**
 * What is at a netns pin path: a bind-mounted network namespace (`netns`), the empty file made before the
 * mount (`placeholder`), nothing, or something else (a regular file with content, a folder, a link, another
 * kind of mount): never ours to remove.
 */
export function pinKind(pin: string): PinKind {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(pin);
  } catch {
    return 'absent';
  }
  const fs = mountFsType(realMountPath(pin));
  if (fs !== undefined) return fs === 'nsfs' ? 'netns' : 'other';
  if (st.isFile() && st.size === 0) return 'placeholder';
  return 'other';
}

/**
 * Why the pin of container `cid` is not this instance's to remove or use, or undefined when it is (or there
 * is none). `owned`: the instance has a record of `cid` (recordedContainerIds, or its state).
 */
export function foreignPinReason(pin: string, owned: boolean): string | undefined {
  const kind = pinKind(pin);
  if (kind === 'absent') return undefined;
  if (!owned) return `${pin} exists, but this instance has no record of making it`;
  if (kind === 'other') return `${pin} is not a bind-mounted network namespace (nor the empty file made before one)`;
  return undefined;
}

/**
 * Re-makes the record of container `cid` from what the host still shows when the run folder was lost: runc
 * says the container was made from one of our bundles (the caller checked), and the pin holds that
 * container's network namespace. Must run before the container is deleted: afterwards nothing ties the pin
 * to it. Returns true when the record is there again (down then removes pin and record as usual).
 */
export function reclaimPin(config: Config, cid: string, pid: number | undefined): boolean {
  if (!pid || !pinMatches(path.join(config.netnsDir, cid), pid)) return false;
  const runDir = runDirOf(config.stateDir, config.id);
  mkdirSync(cid === config.id ? path.join(runDir, 'bundle') : path.join(runDir, 'containers', cid, 'bundle'), {
    recursive: true,
    mode: 0o700,
  });
  return true;
}

/** An attachment's CNI_ARGS (from libcni's cache entry) marks it as this instance's. */
export function hasOwnerMark(config: Config, cniArgs: readonly (readonly [string, string])[] | undefined): boolean {
  return (cniArgs ?? []).some(([k, v]) => k === OWNER_ARG && v === ownerMark(config));
}

/** The ids an up of this instance would use, each with the other instance that owns it (collisions only). */
export function idCollisions(config: Config): { id: string; owner: string }[] {
  return containerIds(config)
    .map((id) => ({ id, owner: claimedByOther(config, id) }))
    .filter((x): x is { id: string; owner: string } => x.owner !== undefined);
}

/**
 * up never takes over what another made. Every container id an up of this instance would use is checked
 * before anything is made: another instance's (idCollisions), a runc container made from a bundle that is
 * not ours, a netns pin this instance has no record of. Returns every problem (to be reported at once) and
 * what runc said of each id that is ours, so each is asked only once.
 */
export async function ownershipProblems(
  exec: Exec,
  config: Config,
  user: RootlessUser | undefined,
): Promise<{ problems: UserError[]; known: Map<string, RuncState | undefined> }> {
  const problems: UserError[] = idCollisions(config).map(
    ({ id, owner }) =>
      new UserError(`container id ${id} belongs to instance ${owner} (${path.join(config.stateDir, owner)})`, {
        field: 'id',
        hint: 'choose another --id (or --containers), or bring that instance down first',
      }),
  );
  const recorded = recordedContainerIds(config);
  const known = new Map<string, RuncState | undefined>();
  await mapLimit(containerIds(config), config.concurrency, async (id) => {
    const st = await runcState(exec, config.runcRoot, id, user);
    // a container of ours whose record went with a lost run folder: its pin is ours when it holds its netns
    if (st && isOwnBundle(config, id, st.bundle) && !recorded.has(id) && reclaimPin(config, id, st.pid)) recorded.add(id);
    if (st && !isOwnBundle(config, id, st.bundle)) {
      problems.push(
        new UserError(`a runc container named ${id} exists in ${config.runcRoot} (made from ${st.bundle}), not by this instance`, {
          field: 'id',
          hint: `choose another --id; if it is stale, remove it yourself: runc --root ${config.runcRoot} delete --force ${id}`,
        }),
      );
    } else known.set(id, st);
    const foreign = foreignPinReason(path.join(config.netnsDir, id), recorded.has(id));
    if (foreign) {
      problems.push(
        new UserError(`the netns pin of container ${id}: ${foreign}`, {
          field: 'netnsDir',
          hint: 'choose another --id or --netns-dir; if it is stale, unmount and remove it yourself once you know what it is',
        }),
      );
    }
  });
  return { problems, known };
}
