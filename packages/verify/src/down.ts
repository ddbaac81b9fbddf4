import { type Ctx, requireRoot, UserError } from '@cni-demo/core';
import { removeReport } from './report.js';
import { auditLeaks, formatLeaks, type Leak } from './leaks.js';

/**
 * Runs last in down: drops verify's own state, then the leak audit proves nothing the demo made is left. Its
 * (empty) list is the step's result, so with --json it rides in down's one outcome line.
 */
export async function down(ctx: Ctx): Promise<{ leaks: Leak[] }> {
  requireRoot('verify down');
  ctx.state.remove('verify');
  removeReport(ctx);
  ctx.state.removeDirIfEmpty();
  requireRoot('verify leaks');
  const leaks = await auditLeaks(ctx);
  failOnLeaks(ctx, leaks);
  return { leaks };
}

/** The `leaks` subcommand: with --json its one document `{ ok, leaks }` on stdout, whatever it finds; fails when anything is left. */
export async function leakAudit(ctx: Ctx): Promise<void> {
  requireRoot('verify leaks');
  const leaks = await auditLeaks(ctx);
  if (ctx.config.json) ctx.log.out(`${JSON.stringify({ ok: leaks.length === 0, leaks }, null, 2)}\n`);
  failOnLeaks(ctx, leaks);
}

function failOnLeaks(ctx: Ctx, leaks: Leak[]): void {
  if (leaks.length > 0) {
    throw new UserError(`teardown left things behind (${leaks.length}):\n${formatLeaks(leaks)}`, {
      hint: 'run down again; it removes what it finds by derived name',
    });
  }
  ctx.log.info(formatLeaks(leaks));
}
