// Not a test: testkit's forced teardown of the instance a config file names, as its own process, so a test can run
// it inside another network namespace (nsenter --net=<pin> node force-teardown.js <config.json>).
import { readFileSync } from 'node:fs';
import { resolveConfig } from '@cni-demo/core';
import { forceTeardown } from '@cni-demo/testkit';

const file = process.argv[2] ?? '';
await forceTeardown(resolveConfig({ env: {}, file: JSON.parse(readFileSync(file, 'utf8')) }).config);
