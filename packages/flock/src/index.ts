export * from './flock.js';
