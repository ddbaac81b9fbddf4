import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  createExec,
  currentNetns,
  type Exec,
  HOST_RECORD_DIR,
  type HostRecord,
  IPTABLES_TOOLS,
  leaveHostRecord,
  mountPoints,
  readTable,
  realMountPath,
  type Rule,
  ruleArg,
} from '@cni-demo/core';

/**
 * What a whole run of tests left on the host, found by the names and places the run had to itself: the test
 * prefix (CNI_TEST_PREFIX: bridges `<prefix>…`, namespaces `<prefix>-…`), the /16 of its subnets (CNI_TEST_NET4)
 * and the folder every test root was made in (TMPDIR). A test's own cleanup cannot run when its process is
 * killed outright (SIGKILL, a machine under memory pressure), so a script that runs many tests for one purpose
 * (scripts/mutation-check.mjs) sweeps after them and fails when anything was there.
 */
export interface SweepOptions {
  prefix: string;
  /** the /16 base, "172.30" */
  net4: string;
  /** the folder the run's test roots are in: runc roots, mounts and host-record entries under it are the run's */
  tmpRoot: string;
  /** only list what would go */
  dryRun?: boolean;
  exec?: Exec;
  /** the host records' folder (tests: their own) */
  recordDir?: string;
  /** where `ip netns` pins namespaces */
  netnsDir?: string;
}

const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);
const SHARED = new Set(['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK', 'CNI-FORWARD', 'CNI-ADMIN']);

/** Removes (or, dry, lists) what the run left; one line per object, "<kind> <what>". */
export async function sweep(o: SweepOptions): Promise<string[]> {
  const exec = o.exec ?? createExec();
  const found: string[] = [];
  const act = async (what: string, fn: () => Promise<unknown> | unknown) => {
    found.push(what);
    if (!o.dryRun) await fn();
  };
  const under = (p: string, root: string) => p === root || p.startsWith(`${root}/`);
  const tmp = realMountPath(path.resolve(o.tmpRoot));
  const netnsDir = o.netnsDir ?? '/var/run/netns';
  const recordDir = o.recordDir ?? HOST_RECORD_DIR;

  // runc containers whose root is under the run's folder (testConfig puts it at <root>/runc)
  for (const root of runcRoots(tmp)) {
    const r = await exec('runc', ['--root', root, 'list', '-q'], { allowFail: true });
    for (const id of r.stdout.split('\n').filter(Boolean)) {
      await act(`runc-container ${root} ${id}`, () => exec('runc', ['--root', root, 'delete', '--force', id], { allowFail: true }));
    }
  }
  // the run's network namespaces, and the host records of each (their instances went with them)
  for (const name of listDir(netnsDir).filter((n) => n.startsWith(`${o.prefix}-`))) {
    const ino = inode(path.join(netnsDir, name));
    await act(`netns ${name}`, () => exec('ip', ['netns', 'del', name], { allowFail: true }));
    if (ino !== undefined) {
      const file = path.join(recordDir, `netns-${ino}.json`);
      if (listDir(recordDir).includes(path.basename(file))) await act(`host-record ${file}`, () => rmSync(file, { force: true }));
    }
  }
  // mounts under the run's folder (netns pins, overlays, tmpfs), deepest first
  for (const m of [...new Set(mountPoints())].filter((p) => under(p, tmp)).sort((a, b) => b.length - a.length)) {
    await act(`mount ${m}`, async () => {
      const r = await exec('umount', [m], { allowFail: true });
      if (r.exitCode !== 0) await exec('umount', ['-l', m], { allowFail: true });
    });
  }
  // links named with the prefix (bridges, underlays, dummies) and every port of those bridges
  const links = JSON.parse((await exec('ip', ['-j', 'link', 'show'], { allowFail: true })).stdout || '[]') as {
    ifname: string;
    master?: string;
  }[];
  const ours = (n: string | undefined) => n?.startsWith(o.prefix) === true;
  for (const l of links.filter((l) => !ours(l.ifname) && ours(l.master))) {
    await act(`link ${l.ifname} (a port of ${l.master})`, () => exec('ip', ['link', 'del', l.ifname], { allowFail: true }));
  }
  for (const l of links.filter((l) => ours(l.ifname))) {
    await act(`link ${l.ifname}`, () => exec('ip', ['link', 'del', l.ifname], { allowFail: true }));
  }
  // iptables: per-container chains holding the run's addresses, every jump to them, and rules naming its
  // addresses or its bridges anywhere (masquerade jumps, the firewall's accepts, the FORWARD fix)
  const octet = Number(o.net4.split('.')[1]);
  const v4 = new RegExp(`(^|[\\s:/[])${o.net4.replace('.', '\\.')}\\.`);
  const v6 = new RegExp(`fd00:c1d:${octet.toString(16).padStart(2, '0')}[0-9a-f]{2}:`, 'i');
  for (const tool of IPTABLES_TOOLS) {
    const addr = tool === 'iptables' ? v4 : v6;
    for (const table of ['nat', 'filter'] as const) {
      const rs = await readTable(exec, tool, table);
      if (!rs) continue;
      const named = (r: Rule) => addr.test(r.line) || ours(ruleArg(r, '-i')) || ours(ruleArg(r, '-o'));
      const chains = new Set(rs.rules.filter((r) => !BUILTIN.has(r.chain) && !SHARED.has(r.chain) && named(r)).map((r) => r.chain));
      for (const r of rs.rules) {
        // an administrator's rules (the firewall plugin's CNI-ADMIN) are never touched
        if (chains.has(r.chain) || r.chain === 'CNI-ADMIN') continue;
        if (chains.has(ruleArg(r, '-j') ?? '') || named(r)) {
          await act(`${tool} ${table} ${r.line}`, () => exec(tool, ['-w', '-t', table, '-D', r.chain, ...r.args], { allowFail: true }));
        }
      }
      for (const c of chains) {
        await act(`${tool} ${table} chain ${c}`, async () => {
          await exec(tool, ['-w', '-t', table, '-F', c], { allowFail: true });
          await exec(tool, ['-w', '-t', table, '-X', c], { allowFail: true });
        });
      }
    }
  }
  // host-record entries of instances whose run folder is under the run's folder: in this namespace's record the
  // product takes them out (the last one out puts forwarding back); a record of a namespace that is gone is
  // removed once only such entries are in it (its sysctls went with the namespace)
  const here = /\[(\d+)\]/.exec(currentNetns())?.[1];
  const alive = new Set(listDir(netnsDir).map((n) => inode(path.join(netnsDir, n))));
  for (const f of listDir(recordDir).filter((f) => /^netns-\d+\.json$/.test(f))) {
    const file = path.join(recordDir, f);
    let r: HostRecord;
    try {
      r = JSON.parse(readFileSync(file, 'utf8')) as HostRecord;
    } catch {
      continue; // being written, or gone since the listing
    }
    const keys = Object.keys(r.instances ?? {});
    const runs = keys.filter((k) => under(k, tmp) || under(k, o.tmpRoot));
    if (runs.length === 0) continue;
    const ino = /^netns-(\d+)\.json$/.exec(f)?.[1];
    if (ino === here) {
      for (const k of runs) await act(`host-record entry ${k}`, () => leaveHostRecord(k, { dir: recordDir }));
    } else if (!alive.has(ino) && runs.length === keys.length) {
      await act(`host-record ${file}`, () => rmSync(file, { force: true }));
    }
  }
  return found;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function inode(p: string): string | undefined {
  try {
    return String(statSync(p).ino);
  } catch {
    return undefined;
  }
}

/** Folders named runc (or runc-…) up to four levels under `root`. */
function runcRoots(root: string, depth = 4): string[] {
  const out: string[] = [];
  for (const e of safeEntries(root)) {
    if (!e.isDirectory()) continue;
    const p = path.join(root, e.name);
    if (/^runc(-|$)/.test(e.name)) out.push(p);
    else if (depth > 1) out.push(...runcRoots(p, depth - 1));
  }
  return out;
}

function safeEntries(dir: string) {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}
