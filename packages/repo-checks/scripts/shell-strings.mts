#!/usr/bin/env node
// Lists every place in packages/*/{src,scripts,test} that builds a shell command string, as file:line:col,
// and exits 1 if there is one. Usage: node dist/scripts/shell-strings.mjs [repo-root]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatViolation, scanRepo } from '../src/index.js';

const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../..'));
const { files, violations } = scanRepo(root);
for (const v of violations) process.stdout.write(`${formatViolation(v)}\n`);
process.stderr.write(`shell-strings: ${files} files scanned, ${violations.length} shell command strings\n`);
process.exitCode = violations.length > 0 ? 1 : 0;
