// What a test file gets for `import { suite, test } from 'uvu'` when test-all runs it (resolve-uvu.mjs sends
// the import here). It is uvu's own suite and test, each call passed through, with the handlers and hooks
// wrapped so that run-file.mjs learns what uvu 0.5.6 loses on the way:
// - an error thrown by a `before` hook: uvu's runner `return`s from its `finally`, which drops the error,
//   so the suite prints "(0 / N)" and exits 0;
// - an `after` hook error rejects uvu's whole run, and an `after.each` error on a failed test ends the suite
//   silently;
// - a thrown non-Error (a string, undefined) or an Error without a stack makes uvu's formatter throw, which
//   is dropped the same way, with the rest of the suite.
// It also counts which test is running (a before.each hook of its own, registered first) so that a failure
// or a hang names its test.
const real = await import(new URL(import.meta.url).searchParams.get('real'));
const rec = globalThis.__testAllRecorder;
if (!rec) throw new Error('uvu-guard.mjs is loaded by scripts/test-all/run-file.mjs only');

/** Wraps a hook; `rethrow` false for `after`, whose error would otherwise abort every later suite in the file. */
const hook = (where, fn, rethrow) => async (state) => {
  try {
    return await fn(state);
  } catch (err) {
    const e = rec.error(where, err);
    if (rethrow) throw e;
  }
};

function guard(t, suiteName) {
  let run;
  // one record per run() of this suite object: uvu resets a suite's tests and hooks when it is queued
  const fresh = () => {
    const r = { tests: [], only: [], next: 0 };
    run = r;
    t.before.each(() => {
      const list = r.only.length ? r.only : r.tests;
      const index = r.next++;
      rec.testStart(index, list[index]);
    });
  };
  fresh();
  const g = (name, fn) => {
    run.tests.push(name);
    t(name, hook('test', fn, true));
  };
  g.only = (name, fn) => {
    run.only.push(name);
    t.only(name, hook('test', fn, true));
  };
  g.skip = (...args) => t.skip(...args);
  g.before = (fn) => t.before(hook('before', fn, true));
  g.before.each = (fn) => t.before.each(hook('before.each', fn, true));
  g.after = (fn) => t.after(hook('after', fn, false));
  g.after.each = (fn) => t.after.each(hook('after.each', fn, true));
  g.run = () => {
    const r = run;
    t.run();
    // uvu queued its runner for this suite; run-file.mjs runs it (instead of uvu's exec) and reads its result
    const queue = globalThis.UVU_QUEUE[globalThis.UVU_INDEX || 0];
    rec.queued(suiteName, queue.pop(), (r.only.length ? r.only : r.tests).length);
    fresh();
  };
  rec.track(suiteName, () => run.tests.length + run.only.length);
  return g;
}

export const suite = (name = '', state = {}) => guard(real.suite(name, state), name);
export const test = guard(real.test, '');
