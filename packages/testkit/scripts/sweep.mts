// Removes what a run of tests left on the host, by the names and places that run had to itself (see
// src/sweep.ts): its test prefix, its /16, and the folder its test roots were made in (the TMPDIR it ran with).
//
//   node packages/testkit/dist/scripts/sweep.mjs --prefix mut --net4 172.30 --tmp /tmp/cni-mut-XXXX [--dry-run]
//
// Prints one line per object it removed (or, with --dry-run, found) and exits 1 when there was any, 0 when the
// host held nothing of the run, 2 on wrong usage. Root only.
import { sweep } from '../src/sweep.js';

const args = process.argv.slice(2);
const value = (flag: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const prefix = value('--prefix');
const net4 = value('--net4');
const tmpRoot = value('--tmp');
const usage = (why: string) => {
  process.stderr.write(`sweep: ${why}\n  usage: sweep.mjs --prefix <p> --net4 <a.b> --tmp <dir> [--dry-run]\n`);
  process.exit(2);
};
if (!prefix || !/^[a-z][a-z0-9]{1,4}$/.test(prefix)) usage("--prefix: the run's CNI_TEST_PREFIX, 2 to 5 letters or digits");
if (!net4 || !/^\d{1,3}\.\d{1,3}$/.test(net4)) usage("--net4: the run's CNI_TEST_NET4, such as 172.30");
if (!tmpRoot?.startsWith('/') || tmpRoot === '/') usage("--tmp: the absolute folder the run's test roots were made in");
if (process.getuid?.() !== 0) usage('run as root');

const found = await sweep({
  prefix: prefix as string,
  net4: net4 as string,
  tmpRoot: tmpRoot as string,
  dryRun: args.includes('--dry-run'),
});
for (const f of found) process.stdout.write(`${f}\n`);
process.exitCode = found.length > 0 ? 1 : 0;
