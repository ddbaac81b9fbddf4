import { type CheckResult, type Ctx, printable, runcCommand, runcUserOf } from '@cni-demo/core';

export type CheckFn = () => Promise<string>;

/** Runs one check: it passes by returning a detail, fails by throwing; the duration is kept either way. */
export async function runCheck(name: string, fn: CheckFn): Promise<CheckResult> {
  const started = performance.now();
  try {
    const detail = await fn();
    return { name, ok: true, detail, durationMs: performance.now() - started };
  } catch (e) {
    const msg = e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e);
    return { name, ok: false, detail: msg, durationMs: performance.now() - started };
  }
}

/** argv of `runc exec <id> <args>`: as the rootless user in rootless mode (root never runs runc on the user's state). */
export function execArgv(ctx: Ctx, id: string, args: string[]): string[] {
  const [cmd, rest] = runcCommand(ctx.config, runcUserOf(ctx.config), 'exec', id, ...args);
  return [cmd, ...rest];
}

/** A command inside the container, as the walkthrough's `runc exec`. */
export async function inContainer(ctx: Ctx, id: string, args: string[], timeoutMs = 10_000) {
  const [cmd = 'runc', ...rest] = execArgv(ctx, id, args);
  return ctx.exec(cmd, rest, { timeoutMs });
}

/** Retries a ping a few times: a fresh IPv6 address may still be in duplicate address detection. */
export async function pingFrom(ctx: Ctx, argv: string[], tries = 5): Promise<string> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    const [cmd, ...args] = argv;
    const r = await ctx.exec(cmd ?? 'ping', args, { allowFail: true, timeoutMs: 5000 });
    if (r.exitCode === 0) {
      const m = /time[=<]([\d.]+) ?ms/.exec(r.stdout);
      return m ? `reply in ${m[1]} ms` : 'reply received';
    }
    last = (r.stdout + r.stderr).trim().split('\n').slice(-2).join(' ');
    await new Promise((res) => setTimeout(res, 300));
  }
  throw new Error(`no reply: ${last}`);
}

/** The pass/fail table verify prints: one row per check, `n/a` for a check the network does not call for. */
export function formatTable(checks: CheckResult[], color = false): string {
  const g = (s: string) => (color ? `\x1b[32m${s}\x1b[0m` : s);
  const r = (s: string) => (color ? `\x1b[31m${s}\x1b[0m` : s);
  const y = (s: string) => (color ? `\x1b[33m${s}\x1b[0m` : s);
  // names and details quote the container and the plugins (an HTTP body, a result's address): shown, not acted on
  const rows = checks.map((c) => ({ ...c, name: printable(c.name), detail: printable(c.detail) }));
  const w = Math.max(5, ...rows.map((c) => c.name.length));
  const lines = [`${'check'.padEnd(w)}  result  ${'ms'.padStart(6)}  detail`, `${'-'.repeat(w)}  ------  ${'-'.repeat(6)}  ------`];
  for (const c of rows) {
    const res = c.na ? y('n/a   ') : c.ok ? g('pass  ') : r('FAIL  ');
    lines.push(`${c.name.padEnd(w)}  ${res}  ${c.durationMs.toFixed(0).padStart(6)}  ${c.detail}`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  const na = checks.filter((c) => c.na).length;
  const ran = checks.length - na;
  const naText = na > 0 ? ` (${na} not applicable to this network)` : '';
  lines.push(failed === 0 ? `all ${ran} checks passed${naText}` : `${failed} of ${ran} checks FAILED${naText}`);
  return lines.join('\n');
}
