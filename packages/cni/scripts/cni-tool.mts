#!/usr/bin/env node
// cni-tool: cnitool-compatible CLI on the @cni-demo/cni runtime library (see src/cli.ts for the usage).
import { runCniTool } from '../src/cli.js';

process.exitCode = await runCniTool(process.argv.slice(2), process.env, {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
});
