// cni-demo: the whole pipeline in one process (the fast path; `pnpm turbo run demo` runs it step by step), and
// the commands to look at what it made: status, exec, logs.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import {
  type Config,
  closest,
  createContext,
  createLogger,
  describeError,
  exitCodeOf,
  helpText,
  quoteArgv,
  requireRoot,
  resolveConfig,
  runStep,
  UsageError,
} from '@cni-demo/core';
import { statusMain } from '@cni-demo/verify';
import { findContainer, readContainerLog, requireRunning, runcArgvFor } from './container.js';
import { pipelineDown, pipelineUp } from './pipeline.js';

export const USAGE = `usage: cni-demo <command> [options]

commands:
  up        run the whole demo: check the host, make the bridge and the network config, fetch the
            image, start the container, attach it with CNI ADD, verify (one line per step)
  down      undo all of it, then audit that nothing is left (exit 1 if anything is)
  status    what exists now: bridge, containers, addresses, leases, port mappings (--json)
  exec      run a command in a running container, stdin/stdout and exit code passed through:
              cni-demo exec [--id ID] -- CMD [ARGS...]
  logs      print a container's output: cni-demo logs [--id ID]

Every command takes the config options (--config FILE, --id, --bridge, --subnet4, ...): the same
instance is found by the same options. cni-demo up --help lists them all.

  -h, --help     this text          --version   the version
  --json         machine-readable output (up, down: one JSON line; status: one document)

examples:
  cni-demo up
  cni-demo exec -- ip a
  cni-demo up --id web --containers 3 && cni-demo exec --id web-2 -- ps
  cni-demo down
exit codes: 0 done, 1 failed (the host, the state, a command), 2 wrong usage (nothing was tried)
`;

const COMMANDS = ['up', 'down', 'status', 'exec', 'logs'];

export function version(): string {
  // packages/cli/package.json, two folders up from dist/src/main.js and from the bundle in dist/scripts
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Resolves the options of exec and logs: everything wrong here is a usage error (exit 2), found before any look at the host. */
function options(argv: readonly string[]): { config: Config; help: boolean; positionals: string[] } {
  try {
    const { config, args } = resolveConfig({ argv, allowPositionals: true });
    return { config, help: args.help, positionals: args.positionals };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const u = e as { message: string; hint?: string; field?: string };
    throw new UsageError(u.message, { ...(u.hint ? { hint: u.hint } : {}), ...(u.field ? { field: u.field } : {}) });
  }
}

async function execMain(argv: readonly string[]): Promise<number> {
  const dd = argv.indexOf('--');
  const own = dd < 0 ? argv : argv.slice(0, dd);
  const cmd = dd < 0 ? [] : argv.slice(dd + 1);
  const o = options(own);
  if (o.help) {
    process.stdout.write(`usage: cni-demo exec [--id ID] [options] -- CMD [ARGS...]\n${helpText()}\n`);
    return 0;
  }
  if (o.positionals.length > 0) {
    throw new UsageError(`"${o.positionals[0]}": the command to run goes after --`, {
      hint: `cni-demo exec ${quoteArgv(own.filter((a) => !o.positionals.includes(a)))} -- ${quoteArgv(o.positionals)}`.replace('  ', ' '),
    });
  }
  if (cmd.length === 0) throw new UsageError('exec needs the command to run after --', { hint: 'for example: cni-demo exec -- ip a' });
  requireRoot('cni-demo exec');
  const ctx = createContext(o.config);
  const c = findContainer(ctx);
  await requireRunning(ctx, c);
  return passThrough(runcArgvFor(c, ['exec', c.containerId, ...cmd]), ctx.log.command);
}

/**
 * Runs argv with this process's stdin, stdout and stderr (a pipe, a file or the terminal, as given), and
 * returns its exit code (128 + the signal's number when a signal ended it). Not through ctx.exec, which
 * collects output: here the caller's streams are the point.
 */
function passThrough(argv: string[], show: (quoted: string) => void): Promise<number> {
  const [cmd = '', ...args] = argv;
  show(quoteArgv(argv));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    // Ctrl-C reaches runc from the terminal (same process group), and runc hands it to the container's
    // process: this process waits for the exit code instead of dying first. Signals sent to it alone go on.
    const ignore = () => undefined;
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const handlers: [NodeJS.Signals, () => void][] = [
      ['SIGINT', ignore],
      ['SIGTERM', forward('SIGTERM')],
      ['SIGHUP', forward('SIGHUP')],
    ];
    for (const [s, h] of handlers) process.on(s, h);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

async function logsMain(argv: readonly string[]): Promise<number> {
  const o = options(argv);
  if (o.help) {
    process.stdout.write(`usage: cni-demo logs [--id ID] [options]\n${helpText()}\n`);
    return 0;
  }
  if (o.positionals.length > 0) {
    throw new UsageError(`unexpected argument "${o.positionals[0]}"`, { hint: 'name the container with --id: cni-demo logs --id <name>' });
  }
  requireRoot('cni-demo logs');
  const ctx = createContext(o.config);
  const buf = readContainerLog(findContainer(ctx));
  await new Promise<void>((resolve, reject) => process.stdout.write(buf, (e) => (e ? reject(e) : resolve())));
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (first === '--version' || first === 'version') {
    process.stdout.write(`cni-demo ${version()}\n`);
    return 0;
  }
  switch (first) {
    case 'up':
    case 'demo':
    case 'down':
      // the whole run, labelled as such (with --json its one outcome line says "run"); each step records its own timing
      return runStep({
        step: 'run',
        action: first === 'down' ? 'down' : 'up',
        run: (ctx) => (first === 'down' ? pipelineDown(ctx) : pipelineUp(ctx)),
        argv: rest,
        label: `cni-demo ${first}`,
      });
    case 'status':
      return statusMain(rest);
    case 'exec':
      return execMain(rest);
    case 'logs':
      return logsMain(rest);
  }
  if (first.startsWith('-')) {
    throw new UsageError(`${first} is not a command; options go after the command`, {
      hint: `for example: cni-demo up ${quoteArgv(argv)} (cni-demo --help lists the commands)`,
    });
  }
  const guess = closest(first, COMMANDS);
  throw new UsageError(`unknown command "${first}"`, {
    hint: `${guess ? `did you mean "${guess}"? ` : ''}the commands are ${COMMANDS.join(', ')} (cni-demo --help)`,
  });
}

/** The command line of this process, run: its exit code set, any error printed as one message. */
export async function run(): Promise<void> {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (e) {
    createLogger().error(describeError(e));
    process.exitCode = exitCodeOf(e);
  }
}
