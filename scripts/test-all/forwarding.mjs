// The forwarding guard of test-all.mjs. The forwarding sysctls belong to the network namespace the gate runs in,
// and to whoever turned them on: the product's instances hold them through the host record
// (packages/core/src/host/record.ts, the one reader of that file), joined before any ADD, and the last one out
// puts them back as it found them. A test file that changes them while no instance holds them has run the bridge
// plugin (isGateway, ipMasq) in this namespace outside that record, and leaves them changed for the rest of the
// suite and for the host after it. test-all notes them before and after each file and fails the file that
// changed them; while an instance holds them (a demo running on this host, another developer's test) a change
// is that instance's to make and undo, and the file is not judged.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const recordModule = path.join(here, '..', '..', 'packages', 'core', 'dist', 'src', 'host', 'record.js');

let record;
/** core's host record module (from the repository test-all belongs to, built: `pnpm turbo run build`). */
export async function loadRecord() {
  record ??= await import(pathToFileURL(recordModule).href);
  return record;
}

/**
 * The forwarding sysctls now, and the run folders of the instances that hold them in this namespace's host
 * record. An unreadable sysctl (IPv6 off) is noted as absent, so it compares equal to itself.
 */
export async function noteForwarding() {
  const r = await loadRecord();
  const values = Object.fromEntries(r.FORWARDING_SYSCTLS.map((k) => [k, r.readSysctlAt(k)]));
  return { values, holders: r.forwardingHolders(r.readHostRecord()) };
}

/**
 * What a file did to the sysctls, from the notes before and after it: `{ changed }` (a failure's text) when
 * they changed and no instance held them at either end, `{ heldBy }` when one did (the file is not judged), or
 * `{}`.
 */
export function judgeForwarding(before, after) {
  const heldBy = [...new Set([...before.holders, ...after.holders])];
  if (heldBy.length) return { heldBy };
  const shown = (v) => v ?? 'absent';
  const diffs = Object.keys({ ...before.values, ...after.values })
    .filter((k) => before.values[k] !== after.values[k])
    .map((k) => `${k} ${shown(before.values[k])} -> ${shown(after.values[k])}`);
  if (diffs.length === 0) return {};
  return {
    changed:
      `changed the forwarding sysctls (${diffs.join(', ')}) while no instance held them in the host record: ` +
      "a test that runs the bridge plugin in the gate's network namespace joins the record before its ADD and " +
      "leaves it in its cleanup (testkit's holdForwarding), or runs the plugins in a namespace of its own",
  };
}
