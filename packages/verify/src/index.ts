export * from './checks.js';
export * from './down.js';
export * from './up.js';
