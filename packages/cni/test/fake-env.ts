// Shared setup for the suites that drive FAKE plugins (see @cni-demo/testkit fake-plugins.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type FakePluginSpec, readFakeCalls, writeFakePlugin } from '@cni-demo/testkit';
import * as assert from 'uvu/assert';
import { CniError, CniRuntime, confFromBytes, type NetworkConfigList, type RuntimeConf } from '../src/index.js';

export interface FakeEnv {
  root: string;
  bin: string;
  rec: string;
  cacheDir: string;
  list: NetworkConfigList;
  cni: CniRuntime;
  calls: () => ReturnType<typeof readFakeCalls>;
}

// temp roots go when the suite's process ends, failed or not (the fakes' records are handy until then)
const roots: string[] = [];
process.on('exit', () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

export function fakeEnv(
  specs: Omit<FakePluginSpec, 'recordDir'>[],
  conf: Record<string, unknown>,
  opts: { timeoutMs?: number } = {},
): FakeEnv {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cni-fake-'));
  roots.push(root);
  const bin = path.join(root, 'bin');
  const rec = path.join(root, 'rec');
  for (const s of specs) writeFakePlugin(bin, { ...s, recordDir: rec });
  const cacheDir = path.join(root, 'cache');
  const list = confFromBytes(JSON.stringify(conf), path.join(root, 'test.conflist'));
  const cni = new CniRuntime({ pluginDirs: [path.join(root, 'empty'), bin], cacheDir, timeoutMs: opts.timeoutMs ?? 20_000 });
  return { root, bin, rec, cacheDir, list, cni, calls: () => readFakeCalls(rec) };
}

/** Where libcni keeps an attachment's result: `<cacheDir>/results/<network>-<container id>-<ifname>` (its layout, written out here, not the runtime's cacheFile under test). */
export const cachedResult = (cacheDir: string, network: string, id: string, ifname: string) =>
  path.join(cacheDir, 'results', `${network}-${id}-${ifname}`);

export const rtOf = (containerId = 'c1', extra: Partial<RuntimeConf> = {}): RuntimeConf => ({
  containerId,
  netns: `/var/run/netns/fake-${containerId}`,
  ifName: 'eth0',
  args: [['IgnoreUnknown', '1']],
  ...extra,
});

/** Awaits a promise that must fail with a CniError, then runs the checks on it. */
export async function rejects(p: Promise<unknown>, check: (e: CniError) => void): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, CniError, String(e));
    check(e as CniError);
    return;
  }
  assert.unreachable('expected a CniError');
}
