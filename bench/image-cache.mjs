#!/usr/bin/env node
// Image cache benchmark: what a second fetch of the same image costs, against a real docker-registry on
// 127.0.0.1 (started here, stopped at the end). Prints a table; run as root after `pnpm build`:
//   node bench/image-cache.mjs [port ...]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createExec } from '../packages/core/dist/src/index.js';
import { buildBuiltinBusybox, up } from '../packages/image-fetch/dist/src/index.js';
import { removeRoot, startRegistry, testConfig } from '../packages/testkit/dist/src/index.js';

const ports = process.argv.slice(2).map(Number).filter(Boolean);
const exec = createExec();
const work = mkdtempSync(path.join(os.tmpdir(), 'bench-images-'));
const registry = await startRegistry(ports.length ? ports : Array.from({ length: 10 }, (_, i) => 5401 + i));
const roots = [];
const rows = [];

function counting() {
  const calls = [];
  const fn = async (cmd, args = [], opts = {}) => {
    calls.push([cmd, ...args]);
    return exec(cmd, args, opts);
  };
  fn.calls = calls;
  return fn;
}

async function timed(label, overrides, reuse) {
  const t = reuse ?? (await testConfig(overrides));
  if (!reuse) roots.push(t.root);
  const e = counting();
  const ctx = { ...t.ctx, exec: e };
  const started = performance.now();
  await up(ctx);
  const ms = performance.now() - started;
  const n = (c, sub) => e.calls.filter((x) => x[0] === c && (!sub || x.includes(sub))).length;
  rows.push({ label, ms, lookups: n('skopeo', 'inspect'), copies: n('skopeo', 'copy'), unpacks: n('umoci', 'unpack') });
  return t;
}

try {
  const layout = path.join(work, 'layout');
  const { ctx, root } = await testConfig();
  roots.push(root);
  await buildBuiltinBusybox(ctx, layout, 'v1');
  const file = path.join(work, 'digest');
  await exec('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    '--digestfile',
    file,
    `oci:${layout}:v1`,
    `docker://${registry.host}/bench/busybox:v1`,
  ]);
  const digest = readFileSync(file, 'utf8').trim();
  const byDigest = `${registry.host}/bench/busybox@${digest}`;
  const byTag = `${registry.host}/bench/busybox:v1`;

  const first = await timed('cold: pull by digest + verify + unpack', { image: byDigest, registryTlsVerify: false });
  const cache = first.config.imageCacheDir;
  await timed('same instance again, by digest', {}, first);
  await timed('new instance, cached digest (no unpack: shared tree)', { image: byDigest, registryTlsVerify: false, imageCacheDir: cache });
  const tagged = await timed('new instance, by tag (lookup only)', { image: byTag, registryTlsVerify: false, imageCacheDir: cache });
  await timed('same instance again, by tag (lookup only)', {}, tagged);
} finally {
  await registry.stop();
  for (const r of roots) removeRoot(r);
  rmSync(work, { recursive: true, force: true });
}

const w = Math.max(...rows.map((r) => r.label.length));
console.log(`${'case'.padEnd(w)}  ${'ms'.padStart(7)}  lookups  copies  unpacks`);
for (const r of rows) {
  console.log(
    `${r.label.padEnd(w)}  ${r.ms.toFixed(0).padStart(7)}  ${String(r.lookups).padStart(7)}  ${String(r.copies).padStart(6)}  ${String(r.unpacks).padStart(7)}`,
  );
}
