#!/usr/bin/env node
// cni-demo up|down|status: the whole pipeline in one process (the fast path; `pnpm turbo run demo` runs it step by
// step), or what exists now.
import { runStep, UserError } from '@cni-demo/core';
import { statusMain } from '@cni-demo/verify';
import { pipelineDown, pipelineUp } from './pipeline.js';

const [command, ...rest] = process.argv.slice(2);
const actions = { up: pipelineUp, demo: pipelineUp, down: pipelineDown } as const;
const run = actions[command as keyof typeof actions];
if (command === 'status') {
  await statusMain(rest);
} else if (!run) {
  const e = new UserError(`unknown command "${command ?? ''}"`, {
    hint: 'use: cni-demo up | down | status [options] (--help lists options)',
  });
  process.stderr.write(`error: ${e.message}\n  fix: ${e.hint}\n`);
  process.exitCode = 1;
} else {
  // the whole run, labelled as such (with --json its one outcome line says "run"); each step records its own timing
  await runStep({
    step: 'run',
    action: command === 'down' ? 'down' : 'up',
    run: (ctx) => run(ctx),
    argv: rest,
    label: `cni-demo ${command}`,
  });
}
