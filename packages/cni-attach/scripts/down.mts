#!/usr/bin/env zx
// cni-attach down: CNI DEL with the cached result, then shows eth0 gone.
import { runStep } from '@cni-demo/core';
import { down } from '../src/down.js';

await runStep({ step: 'cni-attach', action: 'down', run: down });
