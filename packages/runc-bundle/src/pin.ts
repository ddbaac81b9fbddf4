import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, isMountPoint, pinMatches, type RootlessUser, UserError } from '@cni-demo/core';

/**
 * The container's netns is pinned by a bind mount of /proc/<pid>/ns/net. The pid comes from runc, which in
 * rootless mode runs as the user and keeps its state in the user's folder: the user can make it name any
 * process (pid 1, whose netns is the host's, would have the next CNI DEL act on the host). So the process is
 * checked before and after the mount, and the mount is undone when the checks fail.
 */

/** The start time of a process (clock ticks after boot, /proc/<pid>/stat field 22): with the pid, it names one process. */
export function procStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(rest[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function nsId(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

function idLine(status: string, key: 'Uid' | 'Gid'): number[] {
  const m = new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(status);
  return (m?.[1] ?? '').trim().split(/\s+/).map(Number);
}

/** "0 1234 1" from a uid_map or gid_map, whitespace-normalised. */
function mapOf(pid: number, which: 'uid_map' | 'gid_map'): string {
  try {
    return readFileSync(`/proc/${pid}/${which}`, 'utf8').trim().split(/\s+/).join(' ');
  } catch {
    return '';
  }
}

/**
 * Why `pid` cannot be the container's process, or undefined when it can: it must exist, not be in the host's
 * network namespace (nor ours), and, rootless, run as the user on the host inside a user namespace that maps
 * exactly the user to root (what runc made from the bundle). Such a process cannot have joined a network
 * namespace the user does not own, so whatever the user's runc state says, we pin only the user's own.
 */
export function containerProcessProblem(pid: number, user: RootlessUser | undefined): string | undefined {
  if (!Number.isInteger(pid) || pid <= 1) return `pid ${pid} is not a container's process`;
  const ns = nsId(`/proc/${pid}/ns/net`);
  if (!ns) return `process ${pid} does not exist`;
  if (ns === nsId('/proc/1/ns/net') || ns === nsId('/proc/self/ns/net')) return `process ${pid} is in the host's network namespace`;
  if (!user) return undefined;
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return `process ${pid} does not exist`;
  }
  if (!idLine(status, 'Uid').every((u) => u === user.uid)) return `process ${pid} does not run as ${user.name} (uid ${user.uid})`;
  if (!idLine(status, 'Gid').every((g) => g === user.gid)) return `process ${pid} does not run with ${user.name}'s group (gid ${user.gid})`;
  if (mapOf(pid, 'uid_map') !== `0 ${user.uid} 1` || mapOf(pid, 'gid_map') !== `0 ${user.gid} 1`) {
    return `process ${pid} is not in a user namespace that maps ${user.name} to root, as the container's is`;
  }
  return undefined;
}

/**
 * A bind mount of /proc/<pid>/ns/net, as `ip netns` makes: it outlives the pid, unlike a symlink. The process
 * is checked first (containerProcessProblem), and again after the mount together with its start time, so a
 * pid that died and was reused meanwhile does not leave a pin of another namespace. Returns the start time.
 */
export async function pin(ctx: Ctx, pid: number, netnsPath: string, user: RootlessUser | undefined, containerId: string): Promise<number> {
  const refuse = (why: string) =>
    new UserError(`container ${containerId}: runc reported pid ${pid}, but ${why}; nothing was pinned`, {
      hint: user
        ? `runc's state in ${ctx.config.runcRoot} belongs to ${user.name}, who can change it: run down, then up again`
        : 'run down, then up again',
    });
  const start = procStart(pid);
  const problem = containerProcessProblem(pid, user);
  if (problem || start === undefined) throw refuse(problem ?? `process ${pid} does not exist`);
  if (!pinMatches(netnsPath, pid)) {
    await unpin(ctx, netnsPath);
    mkdirSync(path.dirname(netnsPath), { recursive: true });
    writeFileSync(netnsPath, '', { mode: 0o444, flag: 'wx' });
    await ctx.exec('mount', ['--bind', `/proc/${pid}/ns/net`, netnsPath]);
  }
  const after = containerProcessProblem(pid, user);
  if (after || procStart(pid) !== start || !pinMatches(netnsPath, pid)) {
    await unpin(ctx, netnsPath);
    throw refuse(after ?? 'the process changed while its netns was being pinned');
  }
  return start;
}

export async function unpin(ctx: Ctx, netnsPath: string): Promise<void> {
  while (isMountPoint(netnsPath)) await ctx.exec('umount', [netnsPath]);
  rmSync(netnsPath, { force: true });
}
