#!/usr/bin/env zx
// host-setup down: removes the network config and the bridge it made, restores forwarding sysctls.
import { runStep } from '@cni-demo/core';
import { down } from '../src/down.js';

await runStep({ step: 'host-setup', action: 'down', run: down });
