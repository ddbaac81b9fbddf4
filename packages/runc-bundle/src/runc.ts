import { type Ctx, type RootlessUser, runcCommand, runcKnows as knows, runcOrigin, runcState as state } from '@cni-demo/core';

export { runcOrigin };

/** `runc --root <runcRoot> <args>` for this instance: as the rootless user when there is one. */
export const runc = (ctx: Ctx, user: RootlessUser | undefined, ...args: string[]): [string, string[]] =>
  runcCommand(ctx.config, user, ...args);

/** Does runc know the container (host/runc.ts reads its folder, no process)? */
export const runcKnows = (ctx: Ctx, id: string) => knows(ctx.config.runcRoot, id);

/** What runc says (as the user in rootless mode: then a claim, which pin.ts checks before trusting the pid). */
export const runcState = (ctx: Ctx, id: string, user: RootlessUser | undefined) => state(ctx.exec, ctx.config.runcRoot, id, user);
