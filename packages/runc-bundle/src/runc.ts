import { type Ctx, runcKnows as knows, runcState as state } from '@cni-demo/core';

export const runcArgs = (ctx: Ctx, ...args: string[]) => ['--root', ctx.config.runcRoot, ...args];

/** Does runc know the container (host/runc.ts reads its folder, no process)? */
export const runcKnows = (ctx: Ctx, id: string) => knows(ctx.config.runcRoot, id);

export const runcState = (ctx: Ctx, id: string) => state(ctx.exec, ctx.config.runcRoot, id);
