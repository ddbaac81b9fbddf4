export * from './builtin.js';
export * from './down.js';
export * from './oci.js';
export * from './up.js';
