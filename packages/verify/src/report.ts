import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CniRuntime, findInPath, type PluginExec } from '@cni-demo/cni';
import {
  type CheckResult,
  type CniAttachment,
  type CrossNodePing,
  type Ctx,
  containerIds,
  generatedNetwork,
  type HostSetupState,
  mdCode,
  mdText,
  printable,
  type NetworkView,
  readTimings,
  stepOrder,
  removeTimings,
  type StepTiming,
  replaceFile,
  writeFileAtomic,
} from '@cni-demo/core';
import { renderMermaid } from './mermaid.js';
import { renderSvg, routeText } from './svg.js';
import { type NetnsReader, readTopology, type Topology } from './topology.js';

/**
 * report.json (for CI; its schema is packages/verify/report.schema.json), report.md (for people) and
 * topology.svg, written by verify into the instance's run folder (/run/cni-demo/<id>/).
 */
export const REPORT_FILES = { json: 'report.json', markdown: 'report.md', svg: 'topology.svg' } as const;
export const REPORT_SCHEMA_VERSION = 1;

export interface PluginVersion {
  type: string;
  path: string | undefined;
  /** spec versions the binary answers to CNI_COMMAND=VERSION */
  supportedVersions: string[];
  /** the Debian package and version that installed the binary, when dpkg knows it */
  package: string | undefined;
}

export interface Report {
  schemaVersion: number;
  generatedAt: string;
  ok: boolean;
  /** passed + failed + notApplicable = total */
  summary: { total: number; passed: number; failed: number; notApplicable: number };
  instance: {
    id: string;
    network: string;
    /** "" for a network without a bridge */
    bridge: string;
    source: NetworkView['source'];
    file: string;
    plugins: string[];
    containers: string[];
    runDir: string;
  };
  checks: CheckResult[];
  /** the latest recorded run of each step (one process per step under turbo, each writes its own) */
  timings: StepTiming[];
  versions: { cniDemo: string; node: string; tools: Record<string, string>; plugins: PluginVersion[] };
  /** the CNI ADD result per container id, as the plugins returned it */
  cniResults: Record<string, unknown>;
  topology: Topology;
  /** several nodes: every cross-node ping (the checks sum them up per node and family) */
  crossNode?: CrossNodePing[];
  files: { json: string; markdown: string; svg: string };
}

export interface ReportInput {
  checks: CheckResult[];
  host: HostSetupState;
  attachments: CniAttachment[];
  crossNode?: CrossNodePing[];
}

function ownVersion(): string {
  try {
    const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The plugin types a network config list runs (each plugin and its ipam), in order, once each. */
export function pluginTypes(conflist: { plugins?: { type?: string; ipam?: { type?: string } }[] }): string[] {
  const out: string[] = [];
  for (const p of conflist.plugins ?? []) {
    for (const t of [p.type, p.ipam?.type]) if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

/**
 * Each plugin of the network: its binary, its Debian package and the spec versions it answers the runtime's
 * version call with. Answers are kept in `<imageCacheDir>/plugin-versions.json` keyed by the binary's identity
 * (path, inode, size, mtime), so a run with unchanged plugins starts no process for them. `exec` replaces how
 * the runtime starts plugins (tests).
 */
export async function pluginVersions(ctx: Ctx, host: HostSetupState, exec?: PluginExec): Promise<PluginVersion[]> {
  let conf: { plugins?: { type?: string; ipam?: { type?: string } }[] } = {};
  if (!host.network) {
    try {
      conf = JSON.parse(readFileSync(host.confFile, 'utf8'));
    } catch {
      /* the config is gone: no plugin to ask */
    }
  }
  // the network's every binary (a user's single-plugin .conf and its delegates included), as host-setup found them
  const types = host.network?.binaries ?? pluginTypes(conf);
  const found = types.map((type) => ({ type, bin: pluginPath(type, host.pluginDirs) }));
  const cacheFile = path.join(ctx.config.imageCacheDir, PLUGIN_CACHE_FILE);
  const cache = readPluginCache(cacheFile);
  const keyOf = (bin: string | undefined) => (bin ? binaryKey(bin) : undefined);
  const misses = found.filter((f) => {
    const k = keyOf(f.bin);
    return !k || !cache[k];
  });
  const runtime = new CniRuntime({ pluginDirs: host.pluginDirs, timeoutMs: 5000, ...(exec ? { exec } : {}) });
  const probed = misses.length > 0 ? await probePlugins(ctx, misses, runtime) : [];
  let changed = false;
  for (const p of probed) {
    const k = keyOf(p.path);
    if (k && p.supportedVersions.length > 0) {
      cache[k] = { supportedVersions: p.supportedVersions, ...(p.package ? { package: p.package } : {}) };
      changed = true;
    }
  }
  if (changed) {
    try {
      mkdirSync(ctx.config.imageCacheDir, { recursive: true, mode: 0o700 });
      writeFileAtomic(cacheFile, `${JSON.stringify(cache, null, 2)}\n`, 0o600);
    } catch {
      /* a cache we cannot write only costs the next run the same probes */
    }
  }
  return found.map(({ type, bin }) => {
    const hit = probed.find((p) => p.type === type);
    if (hit) return hit;
    const k = keyOf(bin);
    const c = k ? cache[k] : undefined;
    return { type, path: bin, supportedVersions: c?.supportedVersions ?? [], package: c?.package };
  });
}

export const PLUGIN_CACHE_FILE = 'plugin-versions.json';

type PluginCache = Record<string, { supportedVersions: string[]; package?: string }>;

function readPluginCache(file: string): PluginCache {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return c && typeof c === 'object' && !Array.isArray(c) ? (c as PluginCache) : {};
  } catch {
    return {};
  }
}

/** A binary's identity: a reinstalled or replaced plugin gets a new key (new inode, size or mtime). */
export function binaryKey(bin: string): string | undefined {
  try {
    const st = statSync(bin);
    return `${bin} ino=${st.ino} size=${st.size} mtime=${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}

function pluginPath(type: string, dirs: string[]): string | undefined {
  try {
    return findInPath(type, dirs);
  } catch {
    return undefined;
  }
}

/** Asks dpkg and, through the CNI runtime, each plugin itself, for the plugins not in the cache. */
async function probePlugins(ctx: Ctx, found: { type: string; bin: string | undefined }[], cni: CniRuntime): Promise<PluginVersion[]> {
  const bins = found.flatMap((f) => (f.bin ? [f.bin] : []));
  // dpkg-query is slow to start (~0.1 s): the owners are read from dpkg's own file lists, CNI-looking
  // packages first; dpkg-query -S only for a binary none of those lists names
  const owners = dpkgOwnersFromLists(bins);
  const unknown = bins.filter((b) => !owners.has(b));
  if (unknown.length > 0) {
    const r = await ctx.exec('dpkg-query', ['-S', ...unknown], { allowFail: true });
    for (const line of r.stdout.split('\n')) {
      const m = /^([^:\s]+)(?::\S+)?: (.+)$/.exec(line.trim());
      if (m?.[1] && m[2]) owners.set(m[2], m[1]);
    }
  }
  const versions = new Map<string, string>();
  const pkgs = [...new Set(owners.values())];
  const versionsRead =
    pkgs.length === 0
      ? Promise.resolve()
      : ctx.exec('dpkg-query', ['-W', '-f=${Package} ${Version}\\n', ...pkgs], { allowFail: true }).then((v) => {
          for (const line of v.stdout.split('\n')) {
            const [name, version] = line.trim().split(' ');
            if (name && version) versions.set(name, version);
          }
        });
  const [probed] = await Promise.all([
    Promise.all(
      found.map(async ({ type, bin }) => {
        // a binary that is no CNI plugin (or fails) answers nothing
        const supportedVersions = bin
          ? await cni.getVersionInfo(type).then(
              (v) => v.supportedVersions,
              () => [],
            )
          : [];
        return { type, bin, supportedVersions };
      }),
    ),
    versionsRead,
  ]);
  return probed.map(({ type, bin, supportedVersions }) => {
    const owner = bin ? owners.get(bin) : undefined;
    const pkg = owner ? `${owner}${versions.has(owner) ? ` ${versions.get(owner)}` : ''}` : undefined;
    return { type, path: bin, supportedVersions, package: pkg };
  });
}

/**
 * The Debian package that installed each file, from dpkg's file lists (`<infoDir>/<package>[:arch].list`,
 * one path per line: what `dpkg-query -S` reads). Only lists whose package name looks like a CNI one are
 * read; a file they do not name is left out (the caller asks dpkg-query for it).
 */
export function dpkgOwnersFromLists(files: readonly string[], infoDir = '/var/lib/dpkg/info'): Map<string, string> {
  const owners = new Map<string, string>();
  if (files.length === 0) return owners;
  let lists: string[];
  try {
    lists = readdirSync(infoDir).filter((f) => f.endsWith('.list') && /cni|containernetworking/i.test(f));
  } catch {
    return owners;
  }
  const wanted = new Set(files);
  for (const list of lists) {
    let text: string;
    try {
      text = readFileSync(path.join(infoDir, list), 'utf8');
    } catch {
      continue;
    }
    const pkg = list.slice(0, -'.list'.length).split(':')[0] as string;
    for (const line of text.split('\n')) if (wanted.has(line)) owners.set(line, pkg);
    if (owners.size === wanted.size) break;
  }
  return owners;
}

/** Reads what does not depend on the checks (plugin versions, topology), so it can start alongside them. */
export function startReportReads(ctx: Ctx, host: HostSetupState, read?: NetnsReader): ReportReads {
  const reads: ReportReads = {
    plugins: pluginVersions(ctx, host),
    // no portmap in the network (host-setup's record of the chain): no DNAT rule can map to these containers
    topology: readTopology(ctx.exec, ctx.config, host.bridge, {
      portMappings: host.chainedPlugins?.includes('portmap') ?? true,
      hostLinks: networkHostLinks(host),
      ...(read ? { read } : {}),
    }),
  };
  // awaited later by buildReport; a failure must not surface as an unhandled rejection before that
  reads.plugins.catch(() => undefined);
  reads.topology.catch(() => undefined);
  return reads;
}

export interface ReportReads {
  plugins: Promise<PluginVersion[]>;
  topology: Promise<Topology>;
}

/**
 * This run's timings: the newest entry per step and action, counting from the newest up of the graph's first
 * step (where a pipeline run starts), so a previous run's verify does not show up in front of this one. In start order.
 */
export function latestTimings(all: StepTiming[]): StepTiming[] {
  const first = stepOrder('up')[0];
  const runStart = all.filter((t) => t.step === first && t.action === 'up').at(-1)?.startedAt ?? '';
  const byKey = new Map<string, StepTiming>();
  for (const t of all) if (t.startedAt >= runStart) byKey.set(`${t.step} ${t.action}`, t);
  return [...byKey.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** Host links of the network beyond its bridge, for the picture: the master of a macvlan/ipvlan/vlan network, and a --master-veth peer. */
export function networkHostLinks(host: HostSetupState): string[] {
  return [...(host.network?.parent ? [host.network.parent.name] : []), ...(host.masterVeth ? [host.masterVeth.peer] : [])];
}

export async function buildReport(ctx: Ctx, input: ReportInput, reads = startReportReads(ctx, input.host)): Promise<Report> {
  const runDir = ctx.names.runDir;
  const view = input.host.network ?? generatedNetwork(ctx.config, input.host.confFile);
  const passed = input.checks.filter((c) => c.ok && !c.na).length;
  const notApplicable = input.checks.filter((c) => c.na).length;
  const failed = input.checks.filter((c) => !c.ok).length;
  const [plugins, topology] = await Promise.all([reads.plugins, reads.topology]);
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    generatedAt: new Date().toISOString(),
    ok: failed === 0,
    summary: { total: input.checks.length, passed, failed, notApplicable },
    instance: {
      id: ctx.config.id,
      network: view.name,
      bridge: input.host.bridge,
      source: view.source,
      file: view.file,
      plugins: view.plugins,
      containers: containerIds(ctx.config),
      runDir,
    },
    checks: input.checks,
    timings: latestTimings(readTimings(runDir)),
    versions: { cniDemo: ownVersion(), node: process.version, tools: input.host.tools, plugins },
    cniResults: Object.fromEntries(input.attachments.map((a) => [a.containerId, a.result])),
    topology,
    ...(input.crossNode?.length ? { crossNode: input.crossNode } : {}),
    files: {
      json: path.join(runDir, REPORT_FILES.json),
      markdown: path.join(runDir, REPORT_FILES.markdown),
      svg: path.join(runDir, REPORT_FILES.svg),
    },
  };
}

// everything interpolated outside a code block may quote an image or a plugin: shown literally (core text.ts)
const cell = (s: string) => mdText(s);
const code = (s: string) => mdCode(s);

/** Every cross-node ping, one row per pair with both families, when there were any. */
function crossNodeSection(pings: CrossNodePing[]): string[] {
  if (pings.length === 0) return [];
  const pairs = new Map<string, CrossNodePing[]>();
  for (const p of pings) {
    const key = `${p.from.node}>${p.to.node}`;
    pairs.set(key, [...(pairs.get(key) ?? []), p]);
  }
  const show = (p: CrossNodePing | undefined) =>
    !p
      ? ''
      : p.ok
        ? `${p.to.address}: ${p.rttMs !== undefined ? `${p.rttMs} ms` : 'replied'}`
        : `**FAIL** ${p.to.address}: ${cell(p.detail)}`;
  return [
    '## Cross-node pings',
    '',
    '| from | to | IPv4 | IPv6 |',
    '|---|---|---|---|',
    ...[...pairs.values()].map((ps) => {
      const a = ps[0] as CrossNodePing;
      return `| node ${a.from.node} ${a.from.containerId} | node ${a.to.node}${a.to.containerId ? ` ${a.to.containerId}` : ''} | ${show(ps.find((p) => p.family === 4))} | ${show(ps.find((p) => p.family === 6))} |`;
    }),
    '',
  ];
}

export function renderMarkdown(r: Report): string {
  const t = r.topology;
  const lines = [
    `# cni-demo report: ${cell(r.instance.id)}`,
    '',
    `${r.ok ? '**all checks passed**' : `**${r.summary.failed} of ${r.summary.total - r.summary.notApplicable} checks FAILED**`} (${r.summary.passed}/${r.summary.total - r.summary.notApplicable}${r.summary.notApplicable ? `; ${r.summary.notApplicable} not applicable` : ''}), generated ${r.generatedAt}.`,
    '',
    `Network ${code(r.instance.network)} (${r.instance.plugins.map(cell).join(' → ')}, ${r.instance.source === 'file' ? `your file ${code(r.instance.file ?? '')}` : 'generated'})${r.instance.bridge ? ` on bridge ${code(r.instance.bridge)}` : ''}; containers ${r.instance.containers.map((c) => code(c)).join(', ')}; files in ${code(r.instance.runDir)}.`,
    '',
    '## Checks',
    '',
    '| check | result | ms | detail |',
    '|---|---|---:|---|',
    ...r.checks.map(
      (c) => `| ${cell(c.name)} | ${c.na ? 'n/a' : c.ok ? 'pass' : '**FAIL**'} | ${c.durationMs.toFixed(0)} | ${cell(c.detail)} |`,
    ),
    '',
    ...crossNodeSection(r.crossNode ?? []),
    '## Step timings',
    '',
    '| step | action | started | s | result |',
    '|---|---|---|---:|---|',
    ...r.timings.map(
      (s) =>
        `| ${cell(s.step)} | ${cell(s.action)} | ${cell(s.startedAt)} | ${(s.durationMs / 1000).toFixed(2)} | ${s.ok ? 'ok' : 'failed'} |`,
    ),
    ...(r.timings.length ? [] : ['| (none recorded) | | | | |']),
    '',
    '## Topology (read back from the kernel)',
    '',
    `![topology](${REPORT_FILES.svg})`,
    '',
    '```mermaid',
    renderMermaid(t),
    '```',
    '',
    '| where | interface | kind | addresses |',
    '|---|---|---|---|',
    ...(t.bridge ? [`| host | ${cell(t.bridge.name)} | ${cell(t.bridge.kind ?? '')} | ${cell(t.bridge.addrs.join(', '))} |`] : []),
    ...t.ports.map(
      (p) => `| host | ${cell(p.name)} | ${cell(p.kind ?? '')} (port of ${cell(p.master ?? '')}) | ${cell(p.addrs.join(', '))} |`,
    ),
    ...(t.underlay?.bridge
      ? [`| host | ${cell(t.underlay.bridge.name)} | bridge (underlay) | ${cell(t.underlay.bridge.addrs.join(', '))} |`]
      : []),
    ...(t.underlay?.ports ?? []).map((p) => `| host | ${cell(p.name)} | ${cell(p.kind ?? '')} (port of ${cell(p.master ?? '')}) | |`),
    ...(t.nodes ?? []).flatMap((n) =>
      n.interfaces
        .filter((i) => i.name !== 'lo')
        .map(
          (i) =>
            `| node ${n.index} ${cell(n.name)} | ${cell(i.name)} | ${cell(i.kind ?? '')}${i.master ? ` (port of ${cell(i.master)})` : ''} | ${cell(i.addrs.join(', '))} |`,
        ),
    ),
    ...t.containers.flatMap((ns) =>
      ns.interfaces.map((i) => `| netns ${cell(ns.containerId)} | ${cell(i.name)} | ${cell(i.kind ?? '')} | ${cell(i.addrs.join(', '))} |`),
    ),
    '',
    'Routes:',
    '',
    ...t.hostRoutes.map((x) => `- host: ${code(routeText(x))}`),
    ...(t.nodes ?? []).flatMap((n) =>
      n.routes.filter((x) => !x.dst.startsWith('fe80')).map((x) => `- node ${n.index} ${cell(n.name)}: ${code(routeText(x))}`),
    ),
    ...t.containers.flatMap((ns) => ns.routes.map((x) => `- ${cell(ns.containerId)}: ${code(routeText(x))}`)),
    '',
    `Port mappings: ${t.mappings.length ? '' : 'none.'}`,
    ...t.mappings.map(
      (m) => `- ${cell(`${m.hostIp ?? '*'}:${m.hostPort}/${m.protocol} -> ${m.containerIp}:${m.containerPort} (${m.chain})`)}`,
    ),
    '',
    '## Versions',
    '',
    `cni-demo ${cell(r.versions.cniDemo)}, node ${cell(r.versions.node)}`,
    '',
    ...Object.entries(r.versions.tools).map(([k, v]) => `- ${cell(k)}: ${cell(v)}`),
    ...r.versions.plugins.map(
      (p) =>
        `- plugin ${cell(p.type)}: ${cell(p.path ?? 'not found')}${p.package ? ` (${cell(p.package)})` : ''}, spec ${cell(p.supportedVersions.join(', '))}`,
    ),
    '',
    '## CNI result',
    '',
    // JSON escapes control characters; printable also escapes C1 and bidi ones. A fence of four backticks:
    // no JSON line begins with three
    ...Object.entries(r.cniResults).flatMap(([id, res]) => [
      `${cell(id)}:`,
      '',
      '````json',
      printable(JSON.stringify(res, null, 2), { keepNewlines: true }),
      '````',
      '',
    ]),
  ];
  return `${lines.join('\n')}\n`;
}

/** Builds the report and writes the three files, each replaced whole (no fsync: see below). */
export async function writeReport(ctx: Ctx, input: ReportInput, reads?: ReportReads): Promise<Report> {
  const report = await buildReport(ctx, input, reads);
  // replaced whole but not fsynced: no later run reads them back, and every verify writes them again
  replaceFile(report.files.svg, renderSvg(report.topology, `cni-demo ${report.instance.id}`), 0o600);
  replaceFile(report.files.markdown, renderMarkdown(report), 0o600);
  replaceFile(report.files.json, `${JSON.stringify(report, null, 2)}\n`, 0o600);
  return report;
}

/** verify down: the report files and the timings go with the instance, so its run folder can be removed. */
export function removeReport(ctx: Ctx): void {
  for (const f of Object.values(REPORT_FILES)) rmSync(path.join(ctx.names.runDir, f), { force: true });
  removeTimings(ctx.names.runDir);
}
