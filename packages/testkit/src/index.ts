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
 * A subnet pair no route on this host overlaps: <base>.X.0/24 and fd00:c1d:<base-octet><X>::/64, X random.
 * <base> is 172.31 unless CNI_TEST_NET4 names another /16 (parallel developers each take their own).
 * Never 192.168.199.0/24, the demo's.
 */
export async function freeSubnets(
  exec: Exec = createExec(),
): Promise<{ subnet4: string; gateway4: string; subnet6: string; gateway6: string }> {
  const base = process.env.CNI_TEST_NET4 ?? '172.31';
  if (!/^\d{1,3}\.\d{1,3}$/.test(base)) throw new Error(`CNI_TEST_NET4 must look like 172.31, got "${base}"`);
  const octet = Number(base.split('.')[1]);
  const routes = await listRoutes(exec);
  for (let attempt = 0; attempt < 200; attempt++) {
    const x = randomBytes(1)[0] ?? 0;
    const h = `${octet.toString(16).padStart(2, '0')}${x.toString(16).padStart(2, '0')}`;
    const subnet4 = `${base}.${x}.0/24`;
    const subnet6 = `fd00:c1d:${h}::/64`;
    const p4 = parseCidr(subnet4);
    const p6 = parseCidr(subnet6);
    const clash = routes.some((r) => {
      const dst = r.dst.includes('/') ? r.dst : `${r.dst}/${r.family === 4 ? 32 : 128}`;
      const q = parseCidr(dst);
      return q && ((p4 && prefixesOverlap(q, p4)) || (p6 && prefixesOverlap(q, p6)));
    });
    if (!clash) return { subnet4, gateway4: `${base}.${x}.1`, subnet6, gateway6: `fd00:c1d:${h}::1` };
  }
  throw new Error(`no free test subnet found in ${base}.0.0/16`);
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
  const subnets = await freeSubnets();
  const { config } = resolveConfig({
    env: {},
    file: {
      id: `t-${t}`,
      network: `tnet-${t}`,
      bridge: `${testPrefix('ctb')}${t}`,
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
