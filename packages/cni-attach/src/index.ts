import type { StepModule } from '@cni-demo/core';
import { down } from './down.js';
import { up } from './up.js';

export * from './attach.js';
export * from './down.js';
export * from './up.js';
export * from './masq.js';
export * from './recover.js';
export * from './nodes.js';

/** The step as the orchestrators see it. */
export const step: StepModule = { up, down };
