#!/usr/bin/env zx
// cni-attach up: CNI ADD of the container's netns to the network; prints the result JSON.
import { runStep } from '@cni-demo/core';
import { up } from '../src/up.js';

await runStep({ step: 'cni-attach', action: 'up', run: up });
