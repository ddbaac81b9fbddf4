import type { StepModule } from '@cni-demo/core';
import { down } from './down.js';
import { up } from './up.js';

export * from './builtin.js';
export * from './cache.js';
export * from './down.js';
export * from './fetch.js';
export * from './oci.js';
export * from './prune.js';
export * from './skopeo.js';
export * from './unpack.js';
export * from './up.js';

/** The step as the orchestrators see it. */
export const step: StepModule = { up, down };
