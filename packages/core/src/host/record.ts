import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../fsutil.js';
import { acquireLock } from '../lock.js';

/**
 * The host record: what host-setup changed outside the instance's own run folder, kept where the loss of
 * that folder (`/run/cni-demo/<id>` removed, a reboot emptying /run, a test's temp state root deleted) cannot
 * take it along.
 *
 * The forwarding sysctls are the reason it exists. The bridge plugin turns them on during ADD; they belong to
 * the network namespace, not to an instance, so every instance in it (whatever its --state-dir, whoever
 * started it) shares them. One record per network namespace holds their values from before the first
 * instance joined and the instances that hold them now; the last one to leave puts them back. Each entry also
 * carries what that instance added to the filesystem (the network config file, folders such as host-local's
 * lease store), so a down that lost its state still removes them.
 *
 * Those files outlive a reboot, so the record does too (/var/lib, not /run); the sysctls do not, so every
 * entry and the noted values carry the boot they belong to: after a reboot an old entry still tells its down
 * which files to remove, but holds forwarding for nobody, and its values from before are not restored.
 */
export const HOST_RECORD_DIR = '/var/lib/cni-demo';

/** The sysctls the bridge plugin turns on (ADD enables forwarding for the families it configured). */
export const FORWARDING_SYSCTLS = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'] as const;

export interface HostRecordOptions {
  /** where the records live (tests: a temp folder) */
  dir?: string;
  /** the sysctl tree (tests: a temp folder with the same layout); /proc/sys */
  sysctlRoot?: string;
  /** the network namespace the record is for: "net:[<inode>]" (default: this process's) */
  netns?: string;
  /** the current boot (default /proc/sys/kernel/random/boot_id) */
  bootId?: string;
  /** how long to wait for another instance holding the record's lock */
  lockWaitMs?: number;
  warn?: (message: string) => void;
}

/** One instance's share of the record. */
export interface InstanceRecord {
  id: string;
  bridge: string;
  network: string;
  /** host-setup made the bridge (an adopted one stays) */
  createdBridge: boolean;
  /** the network config file host-setup wrote, and the sha256 of what it wrote: removed only while unchanged */
  conf?: { file: string; sha256: string };
  /** folders that did not exist before this instance: removed once empty */
  createdDirs: string[];
  joinedAt: string;
  /** the boot it joined in: only entries of the current boot hold the forwarding sysctls */
  bootId: string;
}

export interface HostRecord {
  /** the network namespace the sysctls below belong to */
  netns: string;
  /** the boot sysctlsBefore was read in */
  bootId: string;
  /** the forwarding sysctls as they were before the first of the current instances joined */
  sysctlsBefore: Record<string, string>;
  /**
   * The portmap/firewall shared chains ("<tool> <table> <chain>") there before the first instance that maps
   * ports joined: the others are the demo's, whichever instance's ADD made them, and the last one using them
   * removes them (an instance joining later sees chains an earlier one made, so its own view cannot tell).
   */
  sharedChainsBefore?: string[];
  /** keyed by the instance's run folder (`<stateDir>/<id>`), unique across state roots */
  instances: Record<string, InstanceRecord>;
}

/** This process's network namespace, as the kernel names it ("net:[4026531840]"). */
export function currentNetns(): string {
  return readlinkSync('/proc/self/ns/net');
}

/** The record file for a network namespace. */
export function hostRecordFile(opts: HostRecordOptions = {}): string {
  const ns = opts.netns ?? currentNetns();
  const ino = /\[(\d+)\]/.exec(ns)?.[1] ?? ns.replace(/[^0-9A-Za-z]/g, '_');
  return path.join(opts.dir ?? HOST_RECORD_DIR, `netns-${ino}.json`);
}

/** The key of an instance in the record: its run folder, absolute. */
export function instanceKey(runDir: string): string {
  return path.resolve(runDir);
}

export function currentBootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/** The run folders of the entries that hold the forwarding sysctls now (joined in this boot). */
export function forwardingHolders(r: HostRecord | undefined, bootId = currentBootId()): string[] {
  return Object.entries(r?.instances ?? {})
    .filter(([, e]) => e.bootId === bootId)
    .map(([k]) => k);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sysctlFile(key: string, root: string): string {
  return path.join(root, ...key.split('.'));
}

export function readSysctlAt(key: string, root = '/proc/sys'): string | undefined {
  try {
    return readFileSync(sysctlFile(key, root), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Reads the record; undefined when there is none. A record that cannot be parsed is reported and treated as none. */
export function readHostRecord(opts: HostRecordOptions = {}): HostRecord | undefined {
  const file = hostRecordFile(opts);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const r = JSON.parse(text) as HostRecord;
    if (typeof r !== 'object' || r === null || typeof r.instances !== 'object' || typeof r.sysctlsBefore !== 'object') {
      throw new Error('not a host record');
    }
    return r;
  } catch {
    opts.warn?.(`host record ${file} is corrupt; starting a new one (the forwarding values from before it are lost)`);
    return undefined;
  }
}

/** The entry of one instance (by run folder), if the record holds it. */
export function instanceRecord(runDir: string, opts: HostRecordOptions = {}): InstanceRecord | undefined {
  return readHostRecord(opts)?.instances[instanceKey(runDir)];
}

/**
 * Read-modify-write under the record's lock. The lock is a pid file beside the record (a killed holder's lock
 * is taken over); the folder is removed when nothing is left in it, and a writer that finds it gone between
 * its mkdir and its open simply tries again.
 */
async function update<T>(opts: HostRecordOptions, fn: (r: HostRecord | undefined) => { next: HostRecord | undefined; out: T }): Promise<T> {
  const file = hostRecordFile(opts);
  const lock = file.replace(/\.json$/, '.lock');
  let release: (() => void) | undefined;
  for (let i = 0; !release; i++) {
    try {
      release = await acquireLock(lock, { waitMs: opts.lockWaitMs ?? 60_000, what: `host record ${file}` });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || i > 20) throw e;
    }
  }
  try {
    const { next, out } = fn(readHostRecord(opts));
    if (next && Object.keys(next.instances).length > 0) writeFileAtomic(file, `${JSON.stringify(next, null, 2)}\n`, 0o600);
    else rmSync(file, { force: true });
    return out;
  } finally {
    release();
    try {
      rmdirSync(path.dirname(file));
    } catch {
      /* not empty (another netns's record, a waiting lock), or already gone */
    }
  }
}

/**
 * Adds (or refreshes) an instance. The first instance in a namespace records the forwarding sysctls as they
 * are now, before any ADD of its own; `sysctlsHint` (the values an existing instance's state noted when it was
 * set up) is used instead when given, so an instance set up before its record existed still restores what it
 * found. Merging keeps what an earlier up of the same instance recorded (its folders, its conf file).
 */
export async function joinHostRecord(
  runDir: string,
  entry: Omit<InstanceRecord, 'joinedAt' | 'bootId'>,
  opts: HostRecordOptions & { sysctlsHint?: Record<string, string>; sharedChainsNow?: string[] } = {},
): Promise<HostRecord> {
  const key = instanceKey(runDir);
  const boot = opts.bootId ?? currentBootId();
  return update(opts, (r) => {
    // the first holder of this boot: the values now are the ones to put back (an entry of an earlier boot holds nothing)
    const fresh = forwardingHolders(r, boot).length === 0 || r?.bootId !== boot;
    const before: Record<string, string> = {};
    if (fresh) {
      for (const k of FORWARDING_SYSCTLS) {
        const v = opts.sysctlsHint?.[k] || readSysctlAt(k, opts.sysctlRoot);
        if (v !== undefined && v !== '') before[k] = v;
      }
    }
    const old = r?.instances[key];
    const next: HostRecord = {
      netns: opts.netns ?? r?.netns ?? currentNetns(),
      bootId: boot,
      sysctlsBefore: fresh ? before : (r?.sysctlsBefore ?? {}),
      instances: { ...r?.instances },
    };
    // chains die with the boot as the sysctls do; the first instance that knows (maps ports) notes them
    const chains = fresh ? opts.sharedChainsNow : (r?.sharedChainsBefore ?? opts.sharedChainsNow);
    if (chains) next.sharedChainsBefore = chains;
    else delete next.sharedChainsBefore;
    const conf = entry.conf ?? old?.conf;
    next.instances[key] = {
      id: entry.id,
      bridge: entry.bridge,
      network: entry.network,
      createdBridge: old?.createdBridge === true || entry.createdBridge,
      ...(conf ? { conf } : {}),
      createdDirs: [...new Set([...(old?.createdDirs ?? []), ...entry.createdDirs])],
      joinedAt: old?.joinedAt ?? new Date().toISOString(),
      bootId: boot,
    };
    return { next, out: next };
  });
}

export interface LeaveResult {
  /** the instance's entry as it was (undefined: it held none) */
  entry: InstanceRecord | undefined;
  /** how many instances of this boot still hold the forwarding sysctls */
  remaining: number;
  /** the sysctls written back, "key=value" (only when this was the last holder) */
  restored: string[];
  /** the record's shared chains from before the demo (see HostRecord) */
  sharedChainsBefore?: string[];
}

/**
 * Removes an instance. When it was the last one of this boot, the forwarding sysctls go back to their
 * recorded values (only those that differ are written); the record is removed once no entry is left.
 */
export async function leaveHostRecord(runDir: string, opts: HostRecordOptions = {}): Promise<LeaveResult> {
  const key = instanceKey(runDir);
  const boot = opts.bootId ?? currentBootId();
  return update(opts, (r) => {
    if (!r) return { next: undefined, out: { entry: undefined, remaining: 0, restored: [] } as LeaveResult };
    const chains = r.bootId === boot && r.sharedChainsBefore ? { sharedChainsBefore: r.sharedChainsBefore } : {};
    const entry = r.instances[key];
    const instances = { ...r.instances };
    delete instances[key];
    const next = { ...r, instances };
    const remaining = forwardingHolders(next, boot).length;
    const restored: string[] = [];
    if (remaining === 0 && entry?.bootId === boot && r.bootId === boot) {
      for (const [k, v] of Object.entries(r.sysctlsBefore)) {
        if (readSysctlAt(k, opts.sysctlRoot) === v) continue;
        writeFileSync(sysctlFile(k, opts.sysctlRoot ?? '/proc/sys'), v);
        restored.push(`${k}=${v}`);
      }
    }
    const out: LeaveResult = { entry, remaining, restored, ...chains };
    return { next, out };
  });
}

/** What the record says about the conf file: remove it only when it still holds exactly what was written. */
export function confUnchanged(conf: { file: string; sha256: string }): boolean {
  try {
    return existsSync(conf.file) && sha256(readFileSync(conf.file, 'utf8')) === conf.sha256;
  } catch {
    return false;
  }
}
