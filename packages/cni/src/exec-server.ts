import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  constants as fsc,
  accessSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PluginRequest, PluginResponse } from './invoke.js';

/**
 * The exec server: a small long-lived `bash` that fork+execs plugins for us, like Python's forkserver.
 *
 * Why: child_process.spawn forks the whole Node process and waits until the child has exec'd, ~3 ms per
 * plugin run on our test host against ~1 ms for a bash fork+exec; with two plugin runs per ADD+DEL that was
 * most of the runtime's overhead over running the plugin from a shell loop (bench/cni).
 *
 * How: each helper owns a private 0700 directory on tmpfs. The helper keeps one background job forked ahead
 * (`set -m`: the job leads its own process group, so a timeout kills the plugin and everything it spawned
 * with one kill(-pgid); it is the helper's only child, found in /proc on timeout), waiting on the helper's
 * stdin. Per call we write the request's stdin to `<dir>/in` and the request line
 * `pluginPath<TAB>K=V<TAB>K=V...` (the CNI_* variables) to `<dir>/req`, then send one newline: the job wakes,
 * exports the variables and execs the plugin with stdin/stdout/stderr on files in the directory; the helper
 * answers `X <status>` when it is gone and forks the next job. We then read `out` and `err`. One byte in and
 * one line out per call, no fork on the critical path: every wake-up costs scheduler latency on a busy host.
 *
 * What keeps this exactly equivalent to spawn (tests in exec-server.test.ts run both ways):
 * - environment: the helper gets process.env minus the variables bash itself reads or rewrites; the job
 *   unsets what bash adds (SHLVL, PWD, OLDPWD, _) and exports the stripped originals back. Each new
 *   environment (process.env or cwd changed) is checked once by running /usr/bin/printenv through a helper
 *   and comparing with what spawn would pass; on any difference that environment uses spawn.
 * - exec failures (ETXTBSY, EACCES, ENOENT): bash exits the job with its own message on the plugin's
 *   stderr (it starts with the helper's $0); nothing ran, so the call is redone with spawn, which produces
 *   the same typed errors and retries as before.
 * - only ELF binaries and `#!` scripts are handed to bash: for any other file exec(2) says ENOEXEC and bash
 *   would run the file as a shell script, where spawn reports the error.
 * - anything the line cannot carry (tab, newline, NUL; a variable name bash treats specially) uses spawn.
 * - a helper that is dead before a call is replaced; one that dies during a call fails that call (the
 *   plugin may have run, so it is not run again).
 *
 * Known differences, both documented: a plugin killed by signal N and one that exits with 128+N look the
 * same to bash and are both reported as the signal; the plugin is its own process group inside the
 * helper's session (spawn's `detached` gives it a session of its own). Neither has a terminal.
 *
 * Helpers are pooled (one per call in flight, reused), unref'd while idle so they never keep Node alive,
 * and killed (their directories removed) when the process exits; a helper whose stdin closes (Node died)
 * removes its directory and exits.
 */

// variables bash reads at start-up or rewrites: not given to the helper, exported back in the job
const STRIPPED = new Set([
  'SHLVL',
  'PWD',
  'OLDPWD',
  '_',
  'BASH_ENV',
  'ENV',
  'TMOUT',
  'POSIXLY_CORRECT',
  'BASH_XTRACEFD',
  'PS4',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'BASH_COMPAT',
]);
// variables bash keeps to itself (readonly or dynamic): an environment holding one of these uses spawn
const BASH_OWNED = new Set([
  'SHELLOPTS',
  'BASHOPTS',
  'RANDOM',
  'SRANDOM',
  'SECONDS',
  'LINENO',
  'HISTCMD',
  'EPOCHSECONDS',
  'EPOCHREALTIME',
  'BASHPID',
  'FUNCNAME',
  'GROUPS',
  'UID',
  'EUID',
  'PPID',
  'DIRSTACK',
  'COMP_WORDBREAKS',
  'OPTIND',
  'OPTARG',
]);
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
// the request line separates fields by tab and ends at a newline; NUL cannot be in an environment at all
const UNSAFE_RE = /[\t\n\0]/;
const PRINTENV = '/usr/bin/printenv';
/** $0 of the helper: bash starts its own error messages with it */
const NAME = 'cni-exec-server';
const MAX_IDLE = 16;
const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals] as const),
);

/** Why a call did not go through the exec server (tests and diagnostics). */
export type ExecServerMiss = 'request' | 'environment' | 'exec-failed' | 'unavailable';

export interface ExecServerStats {
  /** calls the exec server ran */
  served: number;
  /** calls handed to spawn, by reason */
  missed: Record<ExecServerMiss, number>;
  /** helpers started so far */
  started: number;
  /** helpers alive now */
  alive: number;
}

const stats: ExecServerStats = {
  served: 0,
  missed: { request: 0, environment: 0, 'exec-failed': 0, unavailable: 0 },
  started: 0,
  alive: 0,
};

/** Counters of the process-wide exec server pool. */
export function execServerStats(): ExecServerStats {
  return { ...stats, missed: { ...stats.missed }, alive: all.size };
}

interface EnvSnapshot {
  /** cwd and every variable: a helper serves only calls made with the same */
  sig: string;
  cwd: string;
  env: Record<string, string>;
  supported: boolean;
}

let last: EnvSnapshot | undefined;
let lastCount = 0;

/** process.env and the cwd as spawn would pass them now; the previous snapshot object when nothing changed. */
function snapshot(): EnvSnapshot | undefined {
  let cwd: string;
  try {
    cwd = process.cwd();
  } catch {
    return undefined; // the cwd is gone: spawn reports what happens then
  }
  if (last && last.cwd === cwd) {
    let n = 0;
    let same = true;
    for (const k in process.env) {
      n++;
      if (last.env[k] !== process.env[k]) {
        same = false;
        break;
      }
    }
    if (same && n === lastCount) return last;
  }
  let sig = cwd;
  let supported = true;
  let count = 0;
  const env: Record<string, string> = Object.create(null);
  for (const k in process.env) {
    const v = process.env[k];
    if (v === undefined) continue;
    env[k] = v;
    count++;
    sig += `\0${k}=${v}`;
    if (BASH_OWNED.has(k) || (k.startsWith('BASH_') && !STRIPPED.has(k))) supported = false;
  }
  last = { sig, cwd, env, supported };
  lastCount = count;
  return last;
}

/** The request line, or undefined when the protocol cannot carry the request. */
function requestLine(req: PluginRequest): string | undefined {
  if (UNSAFE_RE.test(req.pluginPath) || req.pluginPath === '') return undefined;
  let line = req.pluginPath;
  for (const k in req.env) {
    const v = req.env[k] as string;
    if (!NAME_RE.test(k) || STRIPPED.has(k) || BASH_OWNED.has(k) || k.startsWith('BASH') || UNSAFE_RE.test(v)) return undefined;
    line += `\t${k}=${v}`;
  }
  return `${line}\n`;
}

const formats = new Map<string, { key: string; ok: boolean }>();

/** ELF or `#!`: what the kernel execs itself. Cached per file identity (one stat per call). */
function execImage(file: string): boolean {
  let key: string;
  try {
    const st = statSync(file);
    key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return false;
  }
  const known = formats.get(file);
  if (known?.key === key) return known.ok;
  let ok = false;
  try {
    const fd = openSync(file, 'r');
    try {
      const head = Buffer.alloc(4);
      const n = readSync(fd, head, 0, 4, 0);
      ok = (n === 4 && head.readUInt32BE(0) === 0x7f454c46) || (n >= 2 && head[0] === 0x23 && head[1] === 0x21);
    } finally {
      closeSync(fd);
    }
  } catch {
    ok = false; // unreadable: let spawn say why
  }
  formats.set(file, { key, ok });
  return ok;
}

function tmpBase(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) {
      accessSync('/dev/shm', fsc.W_OK | fsc.X_OK);
      return '/dev/shm';
    }
  } catch {
    /* no usable tmpfs there */
  }
  return os.tmpdir();
}

class ExecFailed {}
const EXEC_FAILED = new ExecFailed();

class Helper {
  readonly child: ChildProcess;
  readonly dir: string;
  private buf = '';
  private handler: ((line: string) => void) | undefined;
  private onExit: (() => void) | undefined;
  dead = false;
  retire = false;

  constructor(
    readonly snap: EnvSnapshot,
    base: string,
  ) {
    this.dir = mkdtempSync(path.join(base, 'cni-exec-'));
    const env: Record<string, string> = {};
    const restore: string[] = [];
    let underscore = '0';
    for (const [k, v] of Object.entries(snap.env)) {
      if (k === '_') underscore = `1${v}`;
      else if (STRIPPED.has(k)) restore.push(`${k}=${v}`);
      else env[k] = v;
    }
    // $1 dir, $2 "1<value of _>" or "0", then the stripped variables as K=V. The script's own variables
    // are named __cx_* so that they cannot clash with an exported variable the plugin must see. The PIPE
    // trap: Node died while a plugin ran, so reporting its status fails; clean up instead of dying (a trap,
    // unlike ignoring the signal, is reset to the default in the jobs and so in the plugins). The job sets `_` on the exec
    // line because bash drops the export flag of `_` after every command. The job is a ( ) subshell, not a
    // function: exec there leaves SHLVL alone (elsewhere bash lowers it by one), and bash's own messages
    // start with $0, which is how a failed exec is told apart from a plugin's exit status.
    this.child = spawn(
      '/bin/bash',
      [
        '--norc',
        '--noprofile',
        '-c',
        `set -m
__cx_d=$1 __cx_u=$2
shift 2
__cx_r=("$@")
trap 'rm -rf -- "$__cx_d"; exit 0' PIPE
while [[ -d $__cx_d ]]; do
  (
    unset SHLVL PWD OLDPWD _
    for __cx_kv in "\${__cx_r[@]}"; do export -- "$__cx_kv"; done
    if ! read -r __cx_go; then
      rm -rf -- "$__cx_d"
      exit 0
    fi
    IFS=$'\t' read -r -a __cx_f <"$__cx_d/req"
    for __cx_kv in "\${__cx_f[@]:1}"; do export -- "$__cx_kv"; done
    if [[ $__cx_u == 1* ]]; then
      _="\${__cx_u#1}" exec "\${__cx_f[0]}" <"$__cx_d/in" >"$__cx_d/out" 2>"$__cx_d/err"
    else
      exec "\${__cx_f[0]}" <"$__cx_d/in" >"$__cx_d/out" 2>"$__cx_d/err"
    fi
  ) &
  wait "$!"
  __cx_st=$?
  [[ -d $__cx_d ]] && echo "X $__cx_st"
done`,
        NAME,
        this.dir,
        underscore,
        ...restore,
      ],
      { env, cwd: snap.cwd, detached: true, stdio: ['pipe', 'pipe', 'ignore'] },
    );
    stats.started++;
    all.add(this);
    ensureExitHook();
    const out = this.child.stdout;
    const inp = this.child.stdin;
    out?.setEncoding('latin1');
    out?.on('data', (chunk: string) => {
      this.buf += chunk;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.handler?.(line);
      }
    });
    inp?.on('error', () => {
      /* the helper is gone: 'exit' below reports it */
    });
    this.child.on('error', () => this.gone());
    this.child.on('exit', () => this.gone());
    this.idle();
  }

  private gone(): void {
    if (this.dead) return;
    this.dead = true;
    all.delete(this);
    // the job forked ahead waits on our end of the pipe: closing it makes the job exit too
    this.child.stdin?.destroy();
    this.onExit?.();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** idle helpers must not keep the event loop alive */
  private idle(): void {
    this.child.unref();
    (this.child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (this.child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  private busy(): void {
    this.child.ref();
    (this.child.stdout as unknown as { ref?: () => void } | null)?.ref?.();
  }

  /** pids of the helper's children: the job of the call in flight, if it was forked yet */
  children(): number[] {
    const pid = this.child.pid;
    if (!pid) return [];
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
        .split(' ')
        .filter((x) => x !== '')
        .map(Number);
    } catch {
      return [];
    }
  }

  kill(): void {
    try {
      this.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
    this.gone();
  }

  /** Runs one request; EXEC_FAILED means exec(2) failed and nothing ran (spawn redoes it). */
  run(req: PluginRequest, line: string): Promise<PluginResponse | ExecFailed> {
    const d = this.dir;
    writeFileSync(`${d}/in`, req.stdin);
    writeFileSync(`${d}/req`, line);
    return new Promise((resolve, reject) => {
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      let grace: NodeJS.Timeout | undefined;
      let settled = false;
      const done = (v: PluginResponse | ExecFailed | Error) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer); // also clears the repeat interval, which replaces it after a timeout
        if (grace) clearTimeout(grace);
        this.handler = undefined;
        this.onExit = undefined;
        this.idle();
        if (v instanceof Error) reject(v);
        else resolve(v);
      };
      const take = (name: string) => {
        try {
          const s = readFileSync(`${d}/${name}`, 'utf8');
          unlinkSync(`${d}/${name}`);
          return s;
        } catch {
          return '';
        }
      };
      // the job is the helper's only child and leads its own process group
      const killGroup = () => {
        for (const pid of this.children()) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      };
      const timedOutResponse = (): PluginResponse => {
        this.retire = true; // something of the group may have escaped: never reuse this directory
        return { exitCode: null, signal: 'SIGKILL', stdout: take('out'), stderr: take('err'), timedOut: true };
      };
      this.handler = (l) => {
        if (!l.startsWith('X ')) return;
        const st = Number(l.slice(2));
        if (timedOut) return done(timedOutResponse());
        const stdout = take('out');
        const stderr = take('err');
        // exec(2) failed (ETXTBSY, EACCES, ...): the job's bash said so on the plugin's stderr, nothing ran
        if ((st === 126 || st === 127) && stderr.startsWith(`${NAME}: `) && stderr.includes(`${req.pluginPath}: `))
          return done(EXEC_FAILED);
        const signal = st > 128 ? SIGNAL_NAMES.get(st - 128) : undefined;
        done({ exitCode: signal ? null : st, signal: signal ?? null, stdout, stderr, timedOut: false });
      };
      this.onExit = () => {
        if (timedOut) return done(timedOutResponse());
        // bash never started (not installed, not on PATH): nothing ran, spawn can take the call
        if (this.child.pid === undefined) return done(EXEC_FAILED);
        done(new Error(`the exec server (bash pid ${this.child.pid}) exited while ${req.pluginPath} ran`));
      };
      if (req.timeoutMs && req.timeoutMs > 0) {
        timer = setTimeout(() => {
          timedOut = true;
          killGroup();
          // the job may be forked a moment later (the helper had not read the request yet): kill again until
          // the helper reports; after 200 ms stop waiting for it, as spawn stops waiting for pipes
          const again = setInterval(killGroup, 20);
          grace = setTimeout(() => {
            clearInterval(again);
            killGroup();
            this.kill();
          }, 200);
          grace.unref();
          again.unref();
          timer = again;
        }, req.timeoutMs);
      }
      this.busy();
      this.child.stdin?.write('\n');
    });
  }
}

const all = new Set<Helper>();
const idle: Helper[] = [];
const verified = new Map<string, Promise<boolean>>();
let hooked = false;
let base: string | undefined;

function ensureExitHook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', stopExecServers);
}

/** Kills every helper and removes their directories (also done on process exit). */
export function stopExecServers(): void {
  idle.length = 0;
  for (const h of [...all]) h.kill();
}

function release(h: Helper, current: string): void {
  if (h.dead || h.retire || h.snap.sig !== current || idle.length >= MAX_IDLE) h.kill();
  else idle.push(h);
}

function acquire(snap: EnvSnapshot): Helper {
  while (idle.length > 0) {
    const h = idle.pop() as Helper;
    if (!h.dead && h.snap.sig === snap.sig) return h;
    h.kill(); // dead, or made for an environment that changed since
  }
  base ??= tmpBase();
  return new Helper(snap, base);
}

/** Runs printenv through a helper once per environment and compares with what spawn would give it. */
async function verify(snap: EnvSnapshot): Promise<boolean> {
  if (!snap.supported) return false;
  const known = verified.get(snap.sig);
  if (known) return known;
  const check = (async () => {
    try {
      if (!statSync(PRINTENV).isFile()) return false;
    } catch {
      return false;
    }
    const sample: Record<string, string> = {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'exec-server-check',
      CNI_NETNS: '/var/run/netns/a b',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: '',
      CNI_PATH: '/x:/y',
    };
    const req: PluginRequest = { pluginPath: PRINTENV, env: sample, stdin: new Uint8Array(), timeoutMs: 10_000 };
    const h = acquire(snap);
    try {
      const r = await h.run(req, requestLine(req) as string);
      if (r instanceof ExecFailed || r.exitCode !== 0) return false;
      const want = Object.entries({ ...snap.env, ...sample }).map(([k, v]) => `${k}=${v}\n`);
      const norm = (s: string) => s.split('\n').sort().join('\n');
      return norm(want.join('')) === norm(r.stdout);
    } catch {
      return false;
    } finally {
      release(h, snap.sig);
    }
  })();
  verified.set(snap.sig, check);
  // a process that keeps changing its environment must not keep every old one
  if (verified.size > 8) verified.delete(verified.keys().next().value as string);
  return check;
}

/**
 * Runs one plugin through the exec server. Undefined means the exec server could not take it (the reason is
 * counted in execServerStats) and the caller should spawn instead; nothing ran in that case.
 */
export async function execServerRun(req: PluginRequest): Promise<PluginResponse | undefined> {
  const line = requestLine(req);
  if (line === undefined || !execImage(req.pluginPath)) {
    stats.missed.request++;
    return undefined;
  }
  const snap = snapshot();
  if (!snap || !(await verify(snap))) {
    stats.missed.environment++;
    return undefined;
  }
  let h: Helper;
  try {
    h = acquire(snap);
  } catch {
    stats.missed.unavailable++;
    return undefined;
  }
  try {
    const r = await h.run(req, line);
    if (r instanceof ExecFailed) {
      stats.missed['exec-failed']++;
      return undefined;
    }
    stats.served++;
    return r;
  } finally {
    release(h, snap.sig);
  }
}
