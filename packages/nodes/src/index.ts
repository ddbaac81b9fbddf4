import { type Action, type Ctx, isMarkedLink, nodeMode, nodePinsIn, type StepModule } from '@cni-demo/core';
import { down } from './down.js';
import { up } from './up.js';

export * from './down.js';
export * from './plan.js';
export * from './up.js';

/**
 * With one node (the host) there is nothing to make; down still looks for what an earlier run with --nodes
 * left (its state, a node pin, the underlay bridge), so a down without --nodes tears it down too.
 */
export function applies(ctx: Ctx, action: Action): boolean {
  if (nodeMode(ctx.config) !== 'single') return true;
  if (action === 'up') return false;
  return ctx.state.has('nodes') || nodePinsIn(ctx.config).length > 0 || isMarkedLink(ctx.config.underlayBridge, ctx.config.id);
}

/** The step as the orchestrators see it; the graph (core graph.ts) says when it runs. */
export const step: StepModule = { up, down, applies };
