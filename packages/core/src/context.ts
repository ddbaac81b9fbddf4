import { type Config, helpText, type ParsedArgs, resolveConfig } from './config.js';
import { CommandError, UserError } from './errors.js';
import { createExec, type Exec } from './exec.js';
import { withInstanceLock } from './instance-lock.js';
import { createLogger, type Logger } from './log.js';
import { type Names, names } from './names.js';
import { type StepName, StateStore } from './state.js';

/** What every step's up/down receives: nothing global, so tests pass their own. */
export interface Ctx {
  config: Config;
  names: Names;
  state: StateStore;
  exec: Exec;
  log: Logger;
  /** positionals and step-specific switches left after the config flags */
  args: ParsedArgs;
}

export function createContext(
  config: Config,
  opts: { exec?: Exec; log?: Logger; args?: ParsedArgs } = {},
): Ctx {
  const log = opts.log ?? createLogger({ verbose: config.verbose });
  const n = names(config);
  return {
    config,
    names: n,
    state: new StateStore(n.runDir),
    exec: opts.exec ?? createExec({ onCommand: (q) => log.command(q) }),
    log,
    args: opts.args ?? { fields: new Map(), configFile: undefined, help: false, positionals: [] },
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
  step: StepName;
  action: 'up' | 'down';
  run: (ctx: Ctx) => Promise<unknown>;
  /** defaults to process.argv after the script path */
  argv?: readonly string[];
  /** step-specific switches that are not config fields */
  extraBoolFlags?: readonly string[];
  /** the status line's name (default "<step> <action>") */
  label?: string;
}

/**
 * The whole body of a step's zx script: resolve the config, build the context, run, and turn any
 * error into one clear message and a non-zero exit code.
 */
export async function runStep(entry: StepEntry): Promise<number> {
  const log0 = createLogger();
  let ctx: Ctx;
  try {
    const { config, args } = resolveConfig({
      argv: entry.argv ?? scriptArgv(),
      extraBoolFlags: entry.extraBoolFlags ?? [],
    });
    if (args.help) {
      process.stdout.write(`usage: ${entry.label ?? `${entry.step} ${entry.action}`} [options]\n${helpText()}\n`);
      return 0;
    }
    ctx = createContext(config, { args });
  } catch (e) {
    log0.error(describeError(e));
    process.exitCode = 1;
    return 1;
  }
  const span = ctx.log.step(entry.label ?? `${entry.step} ${entry.action}`);
  try {
    const c = ctx;
    await withInstanceLock(c, entry.action, () => entry.run(c));
    span.done();
    return 0;
  } catch (e) {
    span.fail();
    ctx.log.error(describeError(e));
    process.exitCode = 1;
    return 1;
  }
}

/** The arguments after the script's own path, whether started by node or by the zx CLI. */
export function scriptArgv(): string[] {
  const argv = process.argv;
  const idx = argv.findIndex((a, i) => i > 0 && /\.(m?js|mts|ts)$/.test(a) && !/\/zx(\.m?js)?$|\/cli\.js$/.test(a));
  return idx >= 0 ? argv.slice(idx + 1) : argv.slice(2);
}
