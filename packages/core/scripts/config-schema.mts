#!/usr/bin/env node
// Writes packages/core/config.schema.json, the config file's JSON Schema, from the config schema
// (src/config/schema.ts). Run after changing a field: pnpm --filter @cni-demo/core run config-schema
// (test/config/json-schema.test.ts fails while the committed file differs from what this writes).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from '../src/config/json-schema.js';

// two folders up from dist/scripts: the package folder
const file = fileURLToPath(new URL('../../config.schema.json', import.meta.url));
writeFileSync(file, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${file}\n`);
