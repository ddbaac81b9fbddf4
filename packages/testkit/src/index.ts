import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type Config,
  type Ctx,
  createContext,
  createExec,
  createLogger,
  type Exec,
  listRoutes,
  parseCidr,
  prefixesOverlap,
  resolveConfig,
  shiftPrefix,
} from '@cni-demo/core';

export * from './cleanup.js';
export * from './snapshot.js';
export * from './fake-plugins.js';

/** A short random tag: test objects get their own names, never the demo's (cbr0, connet, demo). */
export function tag(n = 3): string {
  return randomBytes(n).toString('hex');
}

/**
 * The prefix of the bridges and netns tests make: CNI_TEST_PREFIX (a letter, then up to 4 letters or digits)
 * when set, so that developers sharing a host keep their test objects apart, as CNI_TEST_NET4 does for subnets.
 */
export function testPrefix(fallback: string): string {
  const p = process.env.CNI_TEST_PREFIX;
  if (p === undefined || p === '') return fallback;
  if (!/^[a-z][a-z0-9]{0,4}$/.test(p)) throw new Error(`CNI_TEST_PREFIX must be a letter and up to 4 letters or digits, got "${p}"`);
  return p;
}

/**
 * Where the next test subnet is looked for: after the last one this process handed out, from a random start. A
 * test that takes two configs before bringing either up (two demos in parallel, a config and its rival) drew the
 * same /24 one time in 256 when each draw was random, since neither is a route yet when the second is drawn; in
 * turn, they are 256 draws apart. The host's routes are still checked, so what is up is never handed out.
 */
let cursor = randomBytes(1)[0] ?? 0;

/** The candidates 0 … n-1, from the cursor on, then wrapping round to those before it. */
function fromCursor(n: number): number[] {
  const start = cursor % n;
  return Array.from({ length: n }, (_, i) => (start + i) % n);
}

/**
 * A subnet pair no route on this host overlaps: <base>.X.0/24 and fd00:c1d:<base-octet><X>::/64, X the first free
 * one from the cursor on.
 * <base> is 172.31 unless CNI_TEST_NET4 names another /16 (parallel developers each take their own).
 * Never 192.168.199.0/24, the demo's. With `nodes`, the pair of node 1 of that many: every node's pair (the
 * configured subnets moved up, <base>.X+i-1.0/24 and fd00:c1d:<base-octet><X>:i-1::/64) stays in <base> and
 * clear of the host's routes.
 */
export async function freeSubnets(
  exec: Exec = createExec(),
  opts: { nodes?: number; avoid?: readonly string[] } = {},
): Promise<{ subnet4: string; gateway4: string; subnet6: string; gateway6: string }> {
  const base = testNet4();
  const octet = Number(base.split('.')[1]);
  const nodes = Math.max(1, opts.nodes ?? 1);
  if (nodes > 256) throw new Error(`${nodes} nodes do not fit in ${base}.0.0/16`);
  const taken = [...(await routePrefixes(exec)), ...(opts.avoid ?? []).flatMap((a) => parseCidr(a) ?? [])];
  for (const x of fromCursor(257 - nodes)) {
    const h = `${octet.toString(16).padStart(2, '0')}${x.toString(16).padStart(2, '0')}`;
    const subnet4 = `${base}.${x}.0/24`;
    const subnet6 = `fd00:c1d:${h}::/64`;
    const all = [subnet4, subnet6]
      .flatMap((s) => Array.from({ length: nodes }, (_, i) => shiftPrefix(s, i) ?? ''))
      .flatMap((s) => parseCidr(s) ?? []);
    if (!all.some((p) => taken.some((q) => prefixesOverlap(p, q)))) {
      cursor = x + nodes;
      return { subnet4, gateway4: `${base}.${x}.1`, subnet6, gateway6: `fd00:c1d:${h}::1` };
    }
  }
  throw new Error(`no free test subnet${nodes > 1 ? `s for ${nodes} nodes` : ''} found in ${base}.0.0/16`);
}

/** An underlay subnet for a node test: a /24 under CNI_TEST_NET4 clear of the host's routes and of `avoid`, after the cursor. */
export async function freeUnderlay(exec: Exec = createExec(), avoid: readonly string[] = []): Promise<string> {
  const base = testNet4();
  const taken = [...(await routePrefixes(exec)), ...avoid.flatMap((a) => parseCidr(a) ?? [])];
  for (const x of fromCursor(256)) {
    const subnet = `${base}.${x}.0/24`;
    const p = parseCidr(subnet);
    if (p && !taken.some((q) => prefixesOverlap(p, q))) {
      cursor = x + 1;
      return subnet;
    }
  }
  throw new Error(`no free underlay subnet found in ${base}.0.0/16`);
}

function testNet4(): string {
  const base = process.env.CNI_TEST_NET4 ?? '172.31';
  if (!/^\d{1,3}\.\d{1,3}$/.test(base)) throw new Error(`CNI_TEST_NET4 must look like 172.31, got "${base}"`);
  return base;
}

/** Every route of the host as a prefix (a bare address as its /32 or /128). */
async function routePrefixes(exec: Exec) {
  return (await listRoutes(exec)).flatMap((r) => parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/${r.family === 4 ? 32 : 128}`) ?? []);
}

/** Temporary roots for everything a test run writes, so nothing lands in /etc, /var/lib/cni or /run/runc. */
export function tempRoot(label = 'cni-demo-test'): string {
  return mkdtempSync(path.join(os.tmpdir(), `${label}-`));
}

export interface TestEnv {
  root: string;
  config: Config;
  ctx: Ctx;
}

/**
 * A config with unique names, a free subnet pair and every install root under a temp folder. Environment
 * variables of the person running the tests are not read.
 */
export async function testConfig(overrides: Record<string, unknown> = {}): Promise<TestEnv> {
  const root = tempRoot();
  const t = tag();
  const nodes = typeof overrides.nodes === 'number' ? overrides.nodes : 1;
  const subnets = await freeSubnets(createExec(), { nodes });
  const pods = [subnets.subnet4, ...Array.from({ length: nodes - 1 }, (_, i) => shiftPrefix(subnets.subnet4, i + 1) ?? '')];
  const { config } = resolveConfig({
    env: {},
    file: {
      id: `t-${t}`,
      network: `tnet-${t}`,
      bridge: `${testPrefix('ctb')}${t}`,
      // several nodes: an underlay of the test's own, and its own bridge name on the host
      underlayBridge: `${testPrefix('ctb')}u${t}`,
      ...(nodes > 1 ? { underlaySubnet: await freeUnderlay(createExec(), pods) } : {}),
      ...subnets,
      confDir: path.join(root, 'net.d'),
      stateDir: path.join(root, 'state'),
      imageCacheDir: path.join(root, 'images'),
      cniCacheDir: path.join(root, 'cni-cache'),
      ipamDataDir: path.join(root, 'leases'),
      runcRoot: path.join(root, 'runc'),
      netnsDir: path.join(root, 'netns'),
      install: false,
      ...overrides,
    },
  });
  const ctx = createContext(config, { log: createLogger({ quiet: !process.env.CNI_DEMO_TEST_VERBOSE }) });
  return { root, config, ctx };
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}
export * from './xml.js';
export * from './registry.js';
export * from './procs.js';
export * from './snapshot-filter.js';
export * from './private-netns.js';
export * from './host-assert.js';
export * from './wait.js';
export * from './sweep.js';
export * from './attack.js';
