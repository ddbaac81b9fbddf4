import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, stepOrder } from '@cni-demo/core';

/** packages/, found from this file's place in testkit/dist/src. */
export const PACKAGES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The built `cni-demo` command (its bundle's loader). */
export const CNI_DEMO_CLI = path.join(PACKAGES_DIR, 'cli', 'dist', 'scripts', 'cni-demo.mjs');

/** argv of `cni-demo <action> --config <file>` under this Node, for runs that spawn it themselves. */
export const cliArgv = (action: string, file: string): string[] => [process.execPath, CNI_DEMO_CLI, action, '--config', file];

export interface ProcResult {
  argv: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Writes the config as the JSON file a user would pass with --config. */
export function writeConfigFile(root: string, config: Config | Record<string, unknown>, name = 'config.json'): string {
  const file = path.join(root, name);
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/**
 * Runs a compiled script as its own process (argv array, no shell) the way its first line says: a step's zx
 * script through the package's own zx CLI, as its package script does under turbo; `cni-demo` with node. The
 * environment is the test's minus any CNI_DEMO_* of the person running it, plus `env`. `input` is written
 * to its stdin (otherwise stdin is closed).
 */
export function runScript(
  pkg: string,
  script: string,
  args: readonly string[],
  opts: { env?: Record<string, string>; wrap?: readonly string[]; timeoutMs?: number; input?: string } = {},
): Promise<ProcResult> {
  const file = path.join(PACKAGES_DIR, pkg, 'dist', 'scripts', `${script}.mjs`);
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('CNI_DEMO_') && k !== 'CNI_FAULT_AT' && k !== 'FORCE_COLOR') base[k] = v;
  const zx = readFileSync(file, 'utf8').startsWith('#!/usr/bin/env zx\n')
    ? [path.join(PACKAGES_DIR, pkg, 'node_modules', 'zx', 'build', 'cli.js')]
    : [];
  const argv = [...(opts.wrap ?? []), process.execPath, ...zx, file, ...args];
  const [cmd = '', ...rest] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, {
      env: { ...base, NO_COLOR: '1', ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ argv, code, signal, stdout, stderr });
    });
  });
}

/** Runs each step's up as a process, in the step graph's order (turbo.json agrees with it), until one fails. */
export async function runDemo(configFile: string, env: Record<string, string> = {}): Promise<ProcResult[]> {
  const out: ProcResult[] = [];
  for (const step of stepOrder('up')) {
    const r = await runScript(step, 'up', ['--config', configFile], { env });
    out.push(r);
    if (r.code !== 0) break;
  }
  return out;
}

/** Runs every step's down as a process, in the graph's order, each even when one before failed (as turbo --continue would). */
export async function runDown(configFile: string, env: Record<string, string> = {}): Promise<ProcResult[]> {
  const out: ProcResult[] = [];
  for (const step of stepOrder('down')) out.push(await runScript(step, 'down', ['--config', configFile], { env }));
  return out;
}

/** One line per process that did not exit 0, for assertion messages. */
export function failures(results: ProcResult[]): string {
  return results
    .filter((r) => r.code !== 0)
    .map(
      (r) =>
        `${path.basename(path.dirname(path.dirname(path.dirname(r.argv.at(-3) ?? ''))))}: ${r.argv.slice(-3).join(' ')} -> ${r.code ?? r.signal}\n${r.stderr.trim()}`,
    )
    .join('\n');
}
