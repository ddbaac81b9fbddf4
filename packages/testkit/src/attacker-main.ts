/**
 * The attacker of the security tests: run as the unprivileged (rootless) user through setpriv, never as
 * root. It does what that user could do between root's steps: replace every entry it can in the folders it
 * can write with a symlink to a root-owned canary (a file for files, a folder for folders), plant the names
 * root used to write, and forge runc's state. It reports what it managed, so a test knows the attack ran.
 *
 *   node attacker-main.js plant '<PlantSpec json>'        one pass, prints a PlantReport
 *   node attacker-main.js loop '<PlantSpec json>'         passes every few ms until SIGTERM, then prints the report
 *   node attacker-main.js forge '<ForgeSpec json>'        rewrites a runc state.json to name another process
 */
import { lstatSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface PlantSpec {
  /** folders to walk (not through links): every entry the user can replace is replaced */
  walk: string[];
  /** paths neither replaced nor walked into (the user's own rootfs: breaking it is not the attack) */
  skip: string[];
  canaryFile: string;
  canaryDir: string;
  /** file names root wrote to in some version: planted even when absent (a link waiting for root to write through it) */
  links: string[];
  /** folder names root made in some version: planted (to the canary folder) only with replaceDirs */
  dirLinks: string[];
  /**
   * also replace folders (walked first) with a link to the canary folder. Off, only files are replaced and
   * the pipeline keeps going, so root reaches the places where it writes into existing files.
   */
  replaceDirs?: boolean;
}

export interface PlantReport {
  passes: number;
  /** paths that are (or were made) a link to a canary, by this attacker */
  planted: string[];
  /** paths tried and refused by the kernel (EACCES, EPERM, ENOENT of a parent) */
  refused: number;
}

export interface ForgeSpec {
  stateFile: string;
  pid: number;
  start: number;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Replaces `p` (a file, or a folder when isDir) with a link to the canary of its kind; true when the link is there afterwards. */
function plantAt(p: string, spec: PlantSpec, isDir: boolean | undefined): boolean {
  if (isLink(p)) return true;
  if (isDir === undefined) return false;
  try {
    renameSync(p, `${p}.attacker-${process.pid}-${Date.now()}`);
    symlinkSync(isDir ? spec.canaryDir : spec.canaryFile, p);
    return true;
  } catch {
    return false;
  }
}

/** Plants a link where nothing is yet. */
function plantAtAbsent(p: string, spec: PlantSpec, isDir: boolean): boolean {
  try {
    symlinkSync(isDir ? spec.canaryDir : spec.canaryFile, p);
    return true;
  } catch {
    return false;
  }
}

function onePass(spec: PlantSpec, report: PlantReport, planted: Set<string>): void {
  const skip = new Set(spec.skip);
  const visit = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      report.refused++;
      return;
    }
    for (const n of names) {
      const p = path.join(dir, n);
      if (skip.has(p) || n.includes('.attacker-')) continue;
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        visit(p);
        if (!spec.replaceDirs) continue;
      }
      if (plantAt(p, spec, st.isDirectory())) planted.add(p);
      else report.refused++;
    }
  };
  for (const w of spec.walk) visit(w);
  const named = [...spec.links.map((p) => ({ p, dir: false })), ...(spec.replaceDirs ? spec.dirLinks.map((p) => ({ p, dir: true })) : [])];
  for (const { p, dir } of named) {
    if (skip.has(p)) continue;
    let exists: boolean | undefined;
    try {
      exists = lstatSync(p).isDirectory() === dir;
    } catch {
      exists = undefined;
    }
    if (exists === false) continue;
    // an absent name gets a link too: root creating "its" file or folder there would write into the canary
    if (plantAt(p, spec, exists === undefined ? undefined : dir) || (exists === undefined && plantAtAbsent(p, spec, dir))) planted.add(p);
    else report.refused++;
  }
  report.passes++;
}

function forge(spec: ForgeSpec): void {
  const state = JSON.parse(readFileSync(spec.stateFile, 'utf8')) as Record<string, unknown>;
  state.init_process_pid = spec.pid;
  state.init_process_start = spec.start;
  writeFileSync(spec.stateFile, JSON.stringify(state));
  process.stdout.write(`${JSON.stringify({ forged: spec.stateFile })}\n`);
}

const [mode, json = '{}'] = process.argv.slice(2);
if (typeof process.getuid === 'function' && process.getuid() === 0) {
  process.stderr.write('the attacker must not run as root\n');
  process.exit(2);
}
if (mode === 'forge') forge(JSON.parse(json) as ForgeSpec);
else if (mode === 'plant' || mode === 'loop') {
  const spec = JSON.parse(json) as PlantSpec;
  const report: PlantReport = { passes: 0, planted: [], refused: 0 };
  const planted = new Set<string>();
  const finish = () => {
    report.planted = [...planted].sort();
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(0);
  };
  if (mode === 'plant') {
    onePass(spec, report, planted);
    finish();
  } else {
    process.on('SIGTERM', finish);
    const tick = () => {
      onePass(spec, report, planted);
      setTimeout(tick, 3);
    };
    tick();
  }
} else {
  process.stderr.write(`usage: attacker-main.js plant|loop|forge <json>\n`);
  process.exit(2);
}
