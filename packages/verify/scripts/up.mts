#!/usr/bin/env zx
// verify up: addresses and routes inside the container, pings both ways over IPv4 and IPv6; a pass/fail table.
import { runStep } from '@cni-demo/core';
import { up } from '../src/up.js';

await runStep({ step: 'verify', action: 'up', run: up });
