#!/usr/bin/env node
// cni-tool: cnitool-compatible CLI on the @cni-demo/cni runtime library (see src/cli.ts for the usage).
import { readFileSync } from 'node:fs';
import { runCniTool } from '../src/cli.js';

// packages/cni/package.json: two folders up from dist/scripts, where both this entry and its bundle live
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

process.exitCode = await runCniTool(process.argv.slice(2), process.env, {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  version,
});
