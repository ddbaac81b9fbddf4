import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import {
  bundleContainers,
  type Ctx,
  type RootlessUser,
  type RuncBundleState,
  runcArgv,
  StateStore,
  UserError,
  UsageError,
} from '@cni-demo/core';

/** A container of a running instance, as runc-bundle recorded it. */
export interface ContainerRef {
  containerId: string;
  /** the instance it belongs to */
  instance: string;
  bundleDir: string;
  runcRoot: string;
  /** rootless: every runc call for it runs as this user */
  rootless: RootlessUser | undefined;
}

/**
 * The container `--id` names: the instance's own container (one container), or `<instance>-<n>` of an instance
 * with several (`--id web-2` for `up --id web --containers 3`), or `<instance>-n<i>-<k>` on node i of several
 * (`--id web-n2-1` for `up --id web --nodes 3`). Found in runc-bundle's state under the state
 * folder, so exec and logs use the runc root (and the rootless user) the instance was made with.
 */
export function findContainer(ctx: Ctx): ContainerRef {
  const { id, stateDir } = ctx.config;
  const read = (instance: string) => new StateStore(path.join(stateDir, instance)).read<RuncBundleState>('runc-bundle');
  const ref = (instance: string, s: RuncBundleState, containerId: string, bundleDir: string): ContainerRef => ({
    containerId,
    instance,
    bundleDir,
    runcRoot: s.runcRoot,
    rootless: s.rootless,
  });
  const own = read(id);
  if (own) {
    const list = bundleContainers(own);
    const only = list.length === 1 ? list[0] : undefined;
    if (only) return ref(id, own, only.containerId, only.bundleDir);
    throw new UsageError(`instance "${id}" runs ${list.length} containers; say which one`, {
      field: 'id',
      hint: `pass --id ${list[0]?.containerId ?? `${id}-1`} (its containers are ${list.map((c) => c.containerId).join(', ')})`,
    });
  }
  // `<instance>-<n>`, or a node's `<instance>-n<i>-<k>` (several nodes)
  for (const m of [/^(.+)-n\d+-\d+$/.exec(id), /^(.+)-(\d+)$/.exec(id)]) {
    const parent = m?.[1] ? read(m[1]) : undefined;
    const member = parent ? bundleContainers(parent).find((c) => c.containerId === id) : undefined;
    if (m?.[1] && parent && member) return ref(m[1], parent, member.containerId, member.bundleDir);
  }
  throw new UserError(`no container "${id}": no instance of that name has been brought up under ${stateDir}`, {
    field: 'id',
    hint: `start it with: cni-demo up --id ${id} (cni-demo status --id <name> shows what runs; pass the same --state-dir as to up)`,
  });
}

/** argv of a runc call for the container: as the rootless user when it has one (setpriv: no shell, no login). */
export function runcArgvFor(c: ContainerRef, args: string[]): string[] {
  const [cmd, rest] = runcArgv(c.runcRoot, c.rootless, ...args);
  return [cmd, ...rest];
}

/** The container must be running for exec: runc's own word, asked as the user runc runs as for it. */
export async function requireRunning(ctx: Ctx, c: ContainerRef): Promise<void> {
  const [cmd = 'runc', ...args] = runcArgvFor(c, ['state', c.containerId]);
  const r = await ctx.exec(cmd, args, { allowFail: true });
  let status: string | undefined;
  try {
    status = r.exitCode === 0 ? (JSON.parse(r.stdout) as { status?: string }).status : undefined;
  } catch {
    status = undefined;
  }
  if (status === 'running') return;
  throw new UserError(`container "${c.containerId}" is ${status ?? 'not known to runc'}, not running`, {
    field: 'id',
    hint: `bring it back with: cni-demo down --id ${c.instance} && cni-demo up --id ${c.instance}`,
  });
}

/**
 * The container's output (its stdout and stderr, kept in the bundle by runc-bundle's log keeper, capped at
 * --container-log-max-bytes): the older `container.log.1`, when there is one, then `container.log`. Each is
 * opened without following a link and only when it is a regular file. Returns the bytes to write.
 */
export function readContainerLog(c: ContainerRef): Buffer {
  const file = path.join(c.bundleDir, 'container.log');
  let older: Buffer | undefined;
  try {
    older = readLogFile(c, `${file}.1`);
  } catch {
    /* no older file yet: the output has not reached half the cap */
  }
  try {
    return Buffer.concat([older ?? Buffer.alloc(0), readLogFile(c, file)]);
  } catch (e) {
    // the keeper renames container.log to .1 and opens a new one: between the two there is only the older file
    if (older && e instanceof UserError && /ENOENT/.test(e.message)) return older;
    throw e;
  }
}

function readLogFile(c: ContainerRef, file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`container "${c.containerId}" has no output file (${file}: ${code === 'ELOOP' ? 'a symbolic link' : code})`, {
      hint: `bring it back with: cni-demo down --id ${c.instance} && cni-demo up --id ${c.instance}`,
    });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UserError(`${file} is not a regular file`, { hint: 'remove it and run cni-demo up again' });
    const out = Buffer.alloc(st.size);
    let off = 0;
    while (off < out.length) {
      const n = readSync(fd, out, off, out.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return out.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}
