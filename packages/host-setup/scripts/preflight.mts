#!/usr/bin/env zx
// host-setup's preflight alone: what is missing is installed (or reported) before host-setup and image-fetch,
// which turbo then runs alongside each other (the step graph's host-setup:preflight stage as a task of its own).
import { runStep } from '@cni-demo/core';
import { step } from '../src/index.js';

await runStep({
  step: 'host-setup:preflight',
  action: 'up',
  run: (ctx) => step.stages?.preflight?.(ctx) ?? Promise.resolve(undefined),
  label: 'host-setup preflight',
});
