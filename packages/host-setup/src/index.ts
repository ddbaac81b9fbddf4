export * from './bridge.js';
export * from './down.js';
export * from './netconf.js';
export * from './preflight.js';
export * from './state.js';
export * from './up.js';
export * from './ports.js';
