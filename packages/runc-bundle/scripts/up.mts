#!/usr/bin/env zx
// runc-bundle up: config.json from the image, runc create, the netns pinned under /var/run/netns, runc start.
import { runStep } from '@cni-demo/core';
import { up } from '../src/up.js';

await runStep({ step: 'runc-bundle', action: 'up', run: up });
