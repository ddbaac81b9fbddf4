#!/usr/bin/env zx
// host-setup up: preflight (installing what is missing), the bridge with both addresses, the network config.
import { runStep } from '@cni-demo/core';
import { up } from '../src/up.js';

await runStep({ step: 'host-setup', action: 'up', run: up });
