import type { StepModule } from '@cni-demo/core';
import { down } from './down.js';
import { up } from './up.js';

export * from './checks.js';
export * from './down.js';
export * from './mermaid.js';
export * from './report.js';
export * from './status.js';
export * from './svg.js';
export * from './topology.js';
export * from './up.js';
export * from './leaks.js';
export * from './http.js';
export * from './many.js';
export * from './cross-node.js';
export * from './result-check.js';

/** The step as the orchestrators see it. */
export const step: StepModule = { up, down };
