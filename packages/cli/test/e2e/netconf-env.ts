import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '@cni-demo/core';

/**
 * Helpers for the --netconf suites: a network file of the test's own (names and subnets from its testConfig),
 * and the tiny plugin "under development" the issue asks for, written into a temporary plugin folder.
 */

/** The walkthrough's 10-connet.conf exactly as it prints it. */
export const WALKTHROUGH_CONF = `{
    "cniVersion": "0.4.0",
    "name": "connet",
    "type": "bridge",
    "bridge": "cbr0",
    "isGateway": true,
    "ipMasq": true,
    "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "192.168.199.0/24"
            }
          ],
          [
            {
              "subnet": "fde4:8dba:82e1::/64"
            }
          ]
        ],
        "routes": [
            { "dst": "0.0.0.0/0" },
            { "dst": "fde4:8dba:82e1::1/64" }
        ],
     "dataDir": "/run/ipam-state"
    },
    "dns": {
      "nameservers": [ "8.8.8.8" ]
    }
}
`;

/** The walkthrough's file with only its name, bridge, two subnets and dataDir replaced by the test's own. */
export function walkthroughConf(config: Config, dataDir: string): string {
  const out = WALKTHROUGH_CONF.replace('"connet"', JSON.stringify(config.network))
    .replace('"cbr0"', JSON.stringify(config.bridge))
    .replace('"192.168.199.0/24"', JSON.stringify(config.subnet4))
    .replace('"fde4:8dba:82e1::/64"', JSON.stringify(config.subnet6))
    .replace('"/run/ipam-state"', JSON.stringify(dataDir));
  if (out.includes('192.168.199.0/24') || out.includes('cbr0') || out.includes('"connet"')) throw new Error('replacement missed');
  return out;
}

/** Writes `text` as `<root>/<name>` and returns the path. */
export function writeNetconf(root: string, name: string, text: string | object): string {
  const file = path.join(root, name);
  writeFileSync(file, typeof text === 'string' ? text : `${JSON.stringify(text, null, 2)}\n`, { mode: 0o644 });
  return file;
}

/** host-local with both of the test's ranges (the generated network's subnets) in `dataDir`. */
export function hostLocal(config: Config, dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'host-local',
    ranges: [[{ subnet: config.subnet4 }], [{ subnet: config.subnet6 }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
    dataDir,
    ...extra,
  };
}

/** The marker the fake plugin adds to the result it got from its delegate. */
export const MARKER = 'fake-marker.cni-demo.test';

/**
 * A plugin as someone writing one would: "fake-marker" (a FAKE, named so) runs its `delegate` config (bridge
 * with host-local here) through the delegate's binary found in CNI_PATH, as flannel does, and adds MARKER to the
 * search domains of the result it returns. With `failAdd` in its config it fails ADD after the delegate has
 * wired the container, with that CNI error: the partial work a DEL must undo. Written into `dir` (a plugin
 * folder of the test's own, given to --plugin-dirs before /usr/lib/cni).
 */
export function writeMarkerPlugin(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'fake-marker');
  const script = `#!${process.execPath}
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const verb = process.env.CNI_COMMAND;
const out = (o, code = 0) => { process.stdout.write(JSON.stringify(o)); process.exit(code); };
if (verb === 'VERSION') out({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] });
const conf = JSON.parse(fs.readFileSync(0, 'utf8'));
const d = conf.delegate;
if (!d || !d.type) out({ code: 7, msg: 'fake-marker: "delegate" with a "type" is required' }, 1);
const bin = (process.env.CNI_PATH || '').split(':').map((p) => path.join(p, d.type)).find((f) => fs.existsSync(f));
if (!bin) out({ code: 7, msg: 'fake-marker: delegate plugin ' + d.type + ' not found in CNI_PATH' }, 1);
const req = { ...d, name: conf.name, cniVersion: conf.cniVersion, ...(conf.prevResult ? { prevResult: conf.prevResult } : {}) };
const r = spawnSync(bin, [], { input: JSON.stringify(req), env: process.env, encoding: 'utf8' });
if (r.status !== 0) { process.stdout.write(r.stdout); process.stderr.write(r.stderr || ''); process.exit(r.status || 1); }
if (verb !== 'ADD') process.exit(0);
if (conf.failAdd) {
  process.stderr.write('fake-marker: failing ADD on purpose after the delegate wired the container\\n');
  out({ cniVersion: conf.cniVersion, code: conf.failAdd.code, msg: conf.failAdd.msg }, 1);
}
const result = JSON.parse(r.stdout);
result.dns = { ...(result.dns || {}), search: [...((result.dns && result.dns.search) || []), conf.marker] };
out(result);
`;
  writeFileSync(file, script, { mode: 0o755 });
  chmodSync(file, 0o755);
  return file;
}
