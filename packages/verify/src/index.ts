export * from './checks.js';
export * from './down.js';
export * from './mermaid.js';
export * from './report.js';
export * from './status.js';
export * from './svg.js';
export * from './topology.js';
export * from './up.js';
