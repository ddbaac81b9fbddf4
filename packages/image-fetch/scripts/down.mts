#!/usr/bin/env zx
// image-fetch down: removes the unpacked rootfs; the digest-keyed cache stays for the next run.
import { runStep } from '@cni-demo/core';
import { down } from '../src/down.js';

await runStep({ step: 'image-fetch', action: 'down', run: down });
