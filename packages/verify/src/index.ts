export * from './checks.js';
export * from './down.js';
export * from './up.js';
export * from './http.js';
export * from './many.js';
