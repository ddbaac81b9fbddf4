import { resolveConfig } from './config/resolve.js';
import { type Config, helpText } from './config/schema.js';
import { CommandError, EXIT_FAILURE, EXIT_USAGE, UserError } from './errors.js';
import { createExec, type Exec } from './exec.js';
import { withInstanceLock } from './instance-lock.js';
import { createLogger, type Logger } from './log.js';
import { type Names, names } from './names.js';
import type { StageName, StepName } from './graph.js';
import { StateStore } from './state.js';
import { printable } from './text.js';
import { recordTiming } from './timings.js';

/** What every step's up/down receives: nothing global, so tests pass their own. */
export interface Ctx {
  config: Config;
  names: Names;
  state: StateStore;
  exec: Exec;
  log: Logger;
}

export function createContext(config: Config, opts: { exec?: Exec; log?: Logger } = {}): Ctx {
  const log = opts.log ?? createLogger({ verbose: config.verbose });
  const n = names(config);
  return {
    config,
    names: n,
    state: new StateStore(n.runDir),
    exec: opts.exec ?? createExec({ onCommand: (q) => log.command(q) }),
    log,
  };
}

export function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new UserError(`${what} must run as root (it changes network interfaces, mounts and runc state)`, {
      hint: 'run it again with sudo, or as root',
    });
  }
}

/** Formats any error for a person: a UserError as message + fix, a CommandError with the argv to paste. */
export function describeError(e: unknown): string {
  if (e instanceof UserError) return `error: ${e.message}${e.hint ? `\n  fix: ${e.hint}` : ''}`;
  if (e instanceof CommandError) return `error: ${e.message}`;
  if (e instanceof Error) return `error: ${e.stack ?? e.message}`;
  return `error: ${String(e)}`;
}

export interface StepEntry {
  /**
   * the step this process runs, a stage of a step that runs as a process of its own (graph.ts separateStages:
   * "host-setup:preflight"), or "run" for the whole pipeline in one process
   */
  step: StepName | `${StepName}:${StageName}` | 'run';
  action: 'up' | 'down';
  run: (ctx: Ctx) => Promise<unknown>;
  /** defaults to process.argv after the script path */
  argv?: readonly string[];
  /** the status line's name (default "<step> <action>") */
  label?: string;
  /** append this run's duration to the instance's timings file (default: true for a step, false for the whole run) */
  recordTiming?: boolean;
  /** false for a subcommand whose own output is its JSON document (leaks): no step-outcome line then */
  jsonOutcome?: boolean;
  /** false when the step has nothing to do for this config (StepModule.applies): the process exits 0 in silence */
  applies?: (ctx: Ctx) => boolean;
}

/** With --json, each step prints exactly this on stdout, as one line: the whole run is a JSON Lines stream. */
export interface StepOutcome {
  step: string;
  action: 'up' | 'down';
  ok: boolean;
  startedAt: string;
  durationMs: number;
  /** what the step returned (its state, verify's report paths) */
  result?: unknown;
  error?: { message: string; hint?: string; argv?: string[]; exitCode?: number };
}

function errorJson(e: unknown): NonNullable<StepOutcome['error']> {
  if (e instanceof UserError) return { message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  if (e instanceof CommandError) return { message: e.message, argv: e.argv, ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}) };
  return { message: e instanceof Error ? e.message : String(e) };
}

/**
 * The whole body of a step's zx script: resolve the config, build the context, run, and turn any
 * error into one clear message and a non-zero exit code.
 */
export async function runStep(entry: StepEntry): Promise<number> {
  const log0 = createLogger();
  let ctx: Ctx;
  try {
    const { config, args } = resolveConfig({ argv: entry.argv ?? scriptArgv() });
    if (args.help) {
      process.stdout.write(`usage: ${entry.label ?? `${entry.step} ${entry.action}`} [options]\n${helpText()}\n`);
      return 0;
    }
    ctx = createContext(config);
  } catch (e) {
    // the command line or the config is wrong: a usage error, and nothing was tried
    log0.error(describeError(e));
    process.exitCode = EXIT_USAGE;
    return EXIT_USAGE;
  }
  const c = ctx;
  if (entry.applies && !entry.applies(c)) return 0;
  const startedAt = new Date().toISOString();
  const span = ctx.log.step(entry.label ?? `${entry.step} ${entry.action}`);
  const finish = (ok: boolean, durationMs: number, result: unknown, e?: unknown) => {
    // a stage's time is its step's business (the one-process path counts it in the step's); the run is no step
    if (entry.step !== 'run' && !entry.step.includes(':') && entry.recordTiming !== false)
      recordTiming(c.names.runDir, { step: entry.step, action: entry.action, startedAt, durationMs, ok });
    if (c.config.json && entry.jsonOutcome !== false) {
      const outcome: StepOutcome = { step: entry.step, action: entry.action, ok, startedAt, durationMs };
      if (result !== undefined) outcome.result = result;
      if (e !== undefined) outcome.error = errorJson(e);
      // JSON.stringify escapes C0 controls; printable also escapes C1 and bidi characters, as JSON escapes
      process.stdout.write(`${printable(JSON.stringify(outcome))}\n`);
    }
  };
  try {
    const result = await withInstanceLock(c, entry.action, () => entry.run(c));
    finish(true, span.done(), result);
    return 0;
  } catch (e) {
    const ms = span.fail();
    ctx.log.error(describeError(e));
    finish(false, ms, undefined, e);
    process.exitCode = EXIT_FAILURE;
    return EXIT_FAILURE;
  }
}

/** The arguments after the script's own path, whether started by node or by the zx CLI. */
export function scriptArgv(): string[] {
  const argv = process.argv;
  const idx = argv.findIndex((a, i) => i > 0 && /\.(m?js|mts|ts)$/.test(a) && !/\/zx(\.m?js)?$|\/cli\.js$/.test(a));
  return idx >= 0 ? argv.slice(idx + 1) : argv.slice(2);
}
