export * from './down.js';
export * from './runc.js';
export * from './spec.js';
export * from './up.js';
