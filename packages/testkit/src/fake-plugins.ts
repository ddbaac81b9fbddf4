import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * FAKE CNI plugins, for what Debian's real plugins cannot show: spec versions they do not speak (1.1.0,
 * 0.2.0-only, VERSION-less), failure injection, hangs, garbage output. Each fake is a small Node script
 * that records every call (env, stdin) as one JSON file in a shared record folder, so a test can assert
 * the order and content of what the runtime sent across the whole chain.
 */
export interface FakePluginSpec {
  /** file name = the `type` in the config */
  type: string;
  /** where each call is recorded (one file per call) */
  recordDir: string;
  /** fail these verbs ("*" for all) with this error object on stdout and a non-zero exit */
  fail?: { verbs: string[]; code: number; msg: string; details?: string; stderr?: string; exitCode?: number };
  /** exit non-zero printing only this to stderr (nothing on stdout) */
  crash?: { verbs: string[]; stderr: string; exitCode?: number };
  /** never answer these verbs; a grandchild `sleep` keeps stdout open, as a real hung helper would */
  hang?: string[];
  /** print this instead of a result for these verbs, exit 0 */
  garbage?: { verbs: string[]; stdout: string };
  /** VERSION answer; "unknown-verb" answers like a pre-0.2.0 plugin; raw prints the string as is */
  version?: { cniVersion?: string; supportedVersions?: string[] } | 'unknown-verb' | { raw: string };
  /** the version the ADD result is labelled and shaped in (default: the request's) */
  resultVersion?: string;
  /** the address the first plugin of a chain hands out (default 10.99.0.2/24) */
  address?: string;
  /** wait this long before answering (widens each run, so an overlap that should not happen shows) */
  delayMs?: number;
  /**
   * Orderings by events, not by delays: the plugin first notes that it started (`gateStarted`), then waits
   * until `<dir>/open` exists (a test opens it with openGate), or, with `count`, until that many runs have
   * started (a barrier: runs that must overlap can only get past it together).
   */
  gate?: { dir: string; count?: number };
  /** print this to stderr on success */
  stderr?: string;
  /** ADD: these fields replace the result's (ips, dns, ...): a plugin that says what the network never configured */
  resultOverride?: Record<string, unknown>;
}

export interface FakeCall {
  type: string;
  verb: string;
  env: Record<string, string>;
  /** stdin parsed as JSON (undefined if it was not JSON) */
  request: Record<string, unknown> | undefined;
  stdin: string;
  startNs: bigint;
  endNs: bigint;
  pid: number;
}

const SCRIPT = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const spec = JSON.parse(process.env.__FAKE_SPEC__ ?? SPEC_JSON);
const start = process.hrtime.bigint();
const verb = process.env.CNI_COMMAND ?? '';
const stdin = fs.readFileSync(0, 'utf8');
let req;
try { req = JSON.parse(stdin); } catch { req = undefined; }
const env = {};
for (const [k, v] of Object.entries(process.env)) if (k.startsWith('CNI_')) env[k] = v;
const match = (verbs) => Array.isArray(verbs) && (verbs.includes(verb) || verbs.includes('*'));
function record() {
  const end = process.hrtime.bigint();
  const rec = { type: spec.type, verb, env, stdin, startNs: String(start), endNs: String(end), pid: process.pid };
  fs.mkdirSync(spec.recordDir, { recursive: true });
  // written aside and renamed: a test reading the folder meanwhile never sees half a record
  const file = path.join(spec.recordDir, String(start).padStart(24, '0') + '-' + process.pid + '.json');
  fs.writeFileSync(file + '.part', JSON.stringify(rec));
  fs.renameSync(file + '.part', file);
}
function shape(version, base) {
  const legacy = version === '0.1.0' || version === '0.2.0';
  const withFamily = ['0.3.0', '0.3.1', '0.4.0'].includes(version);
  if (legacy) {
    const ip4 = base.ips.find((i) => !i.address.includes(':'));
    return { cniVersion: version, ...(ip4 ? { ip4: { ip: ip4.address, gateway: ip4.gateway } } : {}), dns: {} };
  }
  return {
    cniVersion: version,
    interfaces: base.interfaces,
    ips: base.ips.map((i) => ({ ...(withFamily ? { version: i.address.includes(':') ? '6' : '4' } : {}), ...i })),
    routes: base.routes,
    dns: {},
  };
}
function toBase(prev) {
  if (!prev) return { interfaces: [], ips: [], routes: [] };
  if (prev.ip4 || prev.ip6) {
    const ips = [];
    for (const k of ['ip4', 'ip6']) if (prev[k]) ips.push({ address: prev[k].ip, ...(prev[k].gateway ? { gateway: prev[k].gateway } : {}) });
    return { interfaces: [], ips, routes: [] };
  }
  return {
    interfaces: prev.interfaces ?? [],
    ips: (prev.ips ?? []).map(({ version, ...rest }) => rest),
    routes: prev.routes ?? [],
  };
}
function finish(code, out, err) {
  record();
  if (err) process.stderr.write(err);
  if (out !== undefined) process.stdout.write(out);
  process.exitCode = code;
}
function gated(then) {
  if (!spec.gate || verb === 'VERSION') return then();
  fs.mkdirSync(spec.gate.dir, { recursive: true });
  fs.writeFileSync(path.join(spec.gate.dir, 'started-' + verb + '-' + process.pid), '');
  const open = () =>
    spec.gate.count
      ? fs.readdirSync(spec.gate.dir).filter((f) => f.startsWith('started-')).length >= spec.gate.count
      : fs.existsSync(path.join(spec.gate.dir, 'open'));
  const poll = () => (open() ? then() : setTimeout(poll, 5));
  poll();
}
function main() {
  if (verb === 'VERSION' && spec.version !== undefined) {
    if (spec.version === 'unknown-verb') return finish(1, JSON.stringify({ code: 4, msg: 'unknown CNI_COMMAND: VERSION' }));
    if (spec.version.raw !== undefined) return finish(0, spec.version.raw);
    return finish(0, JSON.stringify(spec.version));
  }
  if (match(spec.hang)) {
    record();
    spawn('sleep', ['300'], { stdio: ['ignore', 'inherit', 'inherit'] });
    setInterval(() => {}, 1000);
    return;
  }
  if (spec.crash && match(spec.crash.verbs)) return finish(spec.crash.exitCode ?? 2, undefined, spec.crash.stderr);
  if (spec.fail && match(spec.fail.verbs)) {
    const e = { code: spec.fail.code, msg: spec.fail.msg, ...(spec.fail.details ? { details: spec.fail.details } : {}) };
    return finish(spec.fail.exitCode ?? 1, JSON.stringify(e), spec.fail.stderr);
  }
  if (spec.garbage && match(spec.garbage.verbs)) return finish(0, spec.garbage.stdout);
  if (verb === 'VERSION') {
    return finish(0, JSON.stringify({ cniVersion: '1.1.0', supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] }));
  }
  if (verb === 'ADD') {
    const base = toBase(req && req.prevResult);
    if (!req || !req.prevResult) {
      base.ips.push({ address: spec.address ?? '10.99.0.2/24', gateway: '10.99.0.1', interface: 0 });
      base.routes.push({ dst: '0.0.0.0/0', gw: '10.99.0.1' });
    }
    base.interfaces.push({ name: spec.type, sandbox: process.env.CNI_NETNS });
    const out = shape(spec.resultVersion ?? (req ? req.cniVersion || '0.1.0' : '1.0.0'), base);
    if (spec.resultOverride) Object.assign(out, spec.resultOverride);
    return finish(0, JSON.stringify(out), spec.stderr);
  }
  return finish(0, '', spec.stderr);
}
gated(() => setTimeout(main, spec.delayMs ?? 0));
`;

/** Writes one fake plugin (an executable Node script) into `dir` and returns its path. */
export function writeFakePlugin(dir: string, spec: FakePluginSpec): string {
  mkdirSync(dir, { recursive: true });
  mkdirSync(spec.recordDir, { recursive: true });
  const file = path.join(dir, spec.type);
  const body = `#!${process.execPath}\n// FAKE CNI plugin written by @cni-demo/testkit for tests\n${SCRIPT.replace('SPEC_JSON', JSON.stringify(JSON.stringify(spec)))}`;
  writeFileSync(file, body, { mode: 0o755 });
  chmodSync(file, 0o755);
  return file;
}

/** The runs that have reached a fake plugin's gate, as "<verb>-<pid>", in no particular order. */
export function gateStarted(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.startsWith('started-'))
      .map((f) => f.slice('started-'.length));
  } catch {
    return [];
  }
}

/** Lets every run waiting at the gate (and every later one) go on. */
export function openGate(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'open'), '');
}

/** Every recorded call in the record folder, in the order the calls started. */
export function readFakeCalls(recordDir: string): FakeCall[] {
  let files: string[];
  try {
    files = readdirSync(recordDir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files
    .map((f) => {
      const raw = JSON.parse(readFileSync(path.join(recordDir, f), 'utf8')) as Omit<FakeCall, 'request' | 'startNs' | 'endNs'> & {
        startNs: string;
        endNs: string;
      };
      let request: Record<string, unknown> | undefined;
      try {
        request = JSON.parse(raw.stdin) as Record<string, unknown>;
      } catch {
        request = undefined;
      }
      return { ...raw, request, startNs: BigInt(raw.startNs), endNs: BigInt(raw.endNs) };
    })
    .sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
}
