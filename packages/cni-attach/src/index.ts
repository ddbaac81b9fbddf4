export * from './attach.js';
export * from './down.js';
export * from './up.js';
export * from './masq.js';
export * from './recover.js';
