import { requireRoot, type StepModule } from '@cni-demo/core';
import { deleteBridgeEarly, down, removeForwardRulesEarly } from './down.js';
import { preflight } from './preflight.js';
import { up } from './up.js';

export * from './bridge.js';
export * from './down.js';
export * from './netconf.js';
export * from './network.js';
export * from './preflight.js';
export * from './up.js';
export * from './forward.js';
export * from './recover.js';
export * from './ports.js';

/** The step as the orchestrators see it; the graph (core graph.ts) says when each stage may run. */
export const step: StepModule = {
  up,
  down,
  stages: {
    preflight: async (ctx) => {
      requireRoot('host-setup');
      return preflight(ctx);
    },
    'delete-bridge': deleteBridgeEarly,
    'forward-rules': removeForwardRulesEarly,
  },
};
