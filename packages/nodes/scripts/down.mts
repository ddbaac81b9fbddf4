#!/usr/bin/env zx
// nodes down: the underlay veths, the node namespaces and the underlay bridge (a VM: its routes, masquerade and
// link-local next hop), found by state, derived names and marks.
import { runStep } from '@cni-demo/core';
import { down } from '../src/down.js';
import { applies } from '../src/index.js';

await runStep({ step: 'nodes', action: 'down', run: down, applies: (ctx) => applies(ctx, 'down') });
