#!/usr/bin/env node
// cni-demo up|down: the whole pipeline in one process (the fast path; `pnpm turbo run demo` runs it step by step).
import { runStep, UserError } from '@cni-demo/core';
import { pipelineDown, pipelineUp } from '../src/pipeline.js';

const [command, ...rest] = process.argv.slice(2);
const actions = { up: pipelineUp, demo: pipelineUp, down: pipelineDown } as const;
const run = actions[command as keyof typeof actions];
if (!run) {
  const e = new UserError(`unknown command "${command ?? ''}"`, { hint: 'use: cni-demo up | down [options] (--help lists options)' });
  process.stderr.write(`error: ${e.message}\n  fix: ${e.hint}\n`);
  process.exitCode = 1;
} else {
  await runStep({ step: 'verify', action: command === 'down' ? 'down' : 'up', run, argv: rest, label: `cni-demo ${command}` });
}
