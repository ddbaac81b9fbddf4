#!/usr/bin/env zx
// nodes up: with --nodes N, the node namespaces, the underlay bridge, each node's bridge, forwarding and
// masquerade inside the nodes, then the routes between them (a VM as one node: its routes). One node: nothing.
import { runStep } from '@cni-demo/core';
import { applies } from '../src/index.js';
import { up } from '../src/up.js';

await runStep({ step: 'nodes', action: 'up', run: up, applies: (ctx) => applies(ctx, 'up') });
