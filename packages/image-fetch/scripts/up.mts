#!/usr/bin/env zx
// image-fetch up: the configured image into the OCI layout cache (by digest), then unpacked to a rootfs.
import { runStep } from '@cni-demo/core';
import { up } from '../src/up.js';

await runStep({ step: 'image-fetch', action: 'up', run: up });
