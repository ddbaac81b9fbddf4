import type { StepModule } from '@cni-demo/core';
import { deleteContainersEarly, down } from './down.js';
import { up } from './up.js';

export * from './down.js';
export * from './runc.js';
export * from './spec.js';
export * from './up.js';

/** The step as the orchestrators see it; the graph (core graph.ts) says when each stage may run. */
export const step: StepModule = { up, down, stages: { 'stop-containers': deleteContainersEarly } };
