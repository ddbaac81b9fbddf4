export * from './checks.js';
export * from './down.js';
export * from './up.js';
export * from './leaks.js';
