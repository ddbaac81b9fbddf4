#!/usr/bin/env zx
// image-fetch prune: removes the cache entries no instance's state refers to.
import { runStep } from '@cni-demo/core';
import { prune } from '../src/prune.js';

await runStep({ step: 'image-fetch', action: 'down', run: prune, label: 'image-fetch prune' });
