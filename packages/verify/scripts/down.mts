#!/usr/bin/env zx
// verify down: runs last; shows the interface and the lease are gone.
import { runStep } from '@cni-demo/core';
import { down } from '../src/down.js';

await runStep({ step: 'verify', action: 'down', run: down });
