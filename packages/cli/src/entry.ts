#!/usr/bin/env node
// The cni-demo command (bundled into dist/scripts/cni-demo.mjs): main.ts has the commands. up and down take the
// instance lock first thing, and a lock needs this process's helper (a perl process, ~10-20 ms to start): it is
// started here, before the rest of the CLI is loaded, so it gets ready on the other core meanwhile instead of
// being waited for at the lock. Everything else is imported after that.
import { startLockHelper } from '@cni-demo/flock';

const command = process.argv[2];
if (command === 'up' || command === 'down') startLockHelper();
const { run } = await import('./main.js');
await run();
