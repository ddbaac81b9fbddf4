#!/usr/bin/env zx
// runc-bundle down: runc delete, unpin the netns, remove the bundle.
import { runStep } from '@cni-demo/core';
import { down } from '../src/down.js';

await runStep({ step: 'runc-bundle', action: 'down', run: down });
