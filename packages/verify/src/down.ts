import { type Ctx, requireRoot, UserError } from '@cni-demo/core';
import { removeReport } from './report.js';
import { auditLeaks, formatLeaks } from './leaks.js';

/** Runs last in down: drops verify's own state, then the leak audit proves nothing the demo made is left. */
export async function down(ctx: Ctx): Promise<void> {
  requireRoot('verify down');
  ctx.state.remove('verify');
  removeReport(ctx);
  ctx.state.removeDirIfEmpty();
  await leakAudit(ctx);
}

/** The `leaks` subcommand and the end of every down: lists what is left, fails when anything is. */
export async function leakAudit(ctx: Ctx): Promise<void> {
  requireRoot('verify leaks');
  const leaks = await auditLeaks(ctx);
  if (ctx.config.json) ctx.log.out(`${JSON.stringify({ ok: leaks.length === 0, leaks }, null, 2)}\n`);
  if (leaks.length > 0) {
    throw new UserError(`teardown left things behind (${leaks.length}):\n${formatLeaks(leaks)}`, {
      hint: 'run down again; it removes what it finds by derived name',
    });
  }
  ctx.log.info(formatLeaks(leaks));
}
