#!/usr/bin/env node
// Bundles compiled entry scripts (tsc's output) with every workspace package and dependency they import into
// one ES module each. Node then loads one file instead of a few hundred modules (execa alone is ~150), so a
// step is ready ~0.15-0.25 s sooner: it matters on the demo path, where every turbo task and `cni-demo`
// start a process. Run from a package folder after tsc:
//   node ../../scripts/bundle.mjs <entry.mjs>[=<out.mjs>] ...     (no "=out": the entry is replaced in place)
// zx stays external: the zx CLI that runs a step script has loaded it already.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

const pairs = process.argv.slice(2).map((a) => {
  const [entry, out] = a.split('=');
  return { entry, out: out ?? entry };
});
if (pairs.length === 0) {
  console.error('usage: node ../../scripts/bundle.mjs <entry.mjs>[=<out.mjs>] ...');
  process.exit(2);
}
await Promise.all(
  pairs.map(async ({ entry, out }) => {
    await build({
      entryPoints: [entry],
      outfile: out,
      allowOverwrite: true,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: true,
      logLevel: 'warning',
      external: ['zx'],
      // CommonJS dependencies bundled into an ES module still call require() for Node's built-ins
      banner: {
        js: "import { createRequire as __cniDemoCreateRequire } from 'node:module';\nconst require = __cniDemoCreateRequire(import.meta.url);",
      },
    });
    chmodSync(out, 0o755);
  }),
);
