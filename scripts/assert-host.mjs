#!/usr/bin/env node
// CI's look at the host around the README's demo (`.ci/run`), from the outside: not the demo's own verify
// table or leak audit, but the kernel's and the filesystem's answers, checked against the config.
//
//   node scripts/assert-host.mjs before <file> [demo flags]   note the host as it is (a snapshot, JSON) in <file>
//   node scripts/assert-host.mjs up [demo flags]              the demo is up: the bridge has both addresses,
//                                                            each container answers the host's v4 and v6 pings,
//                                                            the state files exist
//   node scripts/assert-host.mjs down <file> [demo flags]     nothing of the demo is left, the host as in <file>
//                                                            (forwarding sysctls included, unless --shared-host:
//                                                            other instances on the host may hold them)
//
// The demo flags are the demo's own (--config, --bridge, …, and CNI_DEMO_* from the environment), so the
// names checked are the ones the demo used. Exit code 0 when all is as expected, 1 with one line per problem
// otherwise, 2 for a usage error. Needs the workspace built (`bash scripts/provision.sh deps`).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { createExec, resolveConfig } = await import(path.join(root, 'packages/core/dist/src/index.js'));
const { demoGoneProblems, demoUpProblems, hostSnapshot } = await import(path.join(root, 'packages/testkit/dist/src/index.js'));

const USAGE = 'usage: node scripts/assert-host.mjs before <file> | up | down <file> [--shared-host] [demo flags]';
const [mode, ...rest] = process.argv.slice(2);
const needsFile = mode === 'before' || mode === 'down';
if (!['before', 'up', 'down'].includes(mode ?? '') || (needsFile && (!rest[0] || rest[0].startsWith('-')))) {
  console.error(`error: ${mode ? `unknown mode or missing file: ${mode}` : 'no mode given'}\n${USAGE}`);
  process.exit(2);
}
const file = needsFile ? rest.shift() : undefined;
const sharedHost = rest.includes('--shared-host');
const flags = rest.filter((a) => a !== '--shared-host');

let config;
try {
  ({ config } = resolveConfig({ argv: flags, env: process.env }));
} catch (e) {
  console.error(`error: ${e.message}${e.hint ? `\n  fix: ${e.hint}` : ''}`);
  process.exit(2);
}
const exec = createExec();

if (mode === 'before') {
  writeFileSync(file, `${JSON.stringify(await hostSnapshot(exec, config))}\n`);
  console.log(`host noted in ${file}`);
  process.exit(0);
}
let problems;
if (mode === 'up') problems = await demoUpProblems(exec, config);
else {
  let before;
  try {
    before = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`error: cannot read the snapshot ${file} (${e.message})\n  fix: run "assert-host.mjs before ${file}" before the demo`);
    process.exit(2);
  }
  problems = await demoGoneProblems(exec, config, { before, now: await hostSnapshot(exec, config), forwarding: !sharedHost });
}
if (problems.length === 0) {
  console.log(
    mode === 'up'
      ? `host: demo ${config.id} is up (bridge ${config.bridge} with both addresses, pings answered over IPv4 and IPv6, state files present)`
      : `host: nothing of demo ${config.id} is left; the host is as before it`,
  );
  process.exit(0);
}
console.error(`host: ${problems.length} problem(s) with demo ${config.id} (${mode}):`);
for (const p of problems) console.error(`  ${p.replaceAll('\n', '\n    ')}`);
process.exit(1);
