export * from './attach.js';
export * from './down.js';
export * from './up.js';
