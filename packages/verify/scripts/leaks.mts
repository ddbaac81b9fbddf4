#!/usr/bin/env zx
// verify leaks: lists everything the demo made that still exists (by derived names), exits 1 if anything is.
import { runStep } from '@cni-demo/core';
import { leakAudit } from '../src/down.js';

await runStep({ step: 'verify', action: 'up', run: leakAudit, label: 'verify leaks', recordTiming: false, jsonOutcome: false });
