import { UserError } from '../src/index.js';

/** Runs fn, which must throw a UserError, and returns it for the assertions. */
export function problem(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('expected a UserError');
}
