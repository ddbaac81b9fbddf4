// Module resolve hook, registered by run-file.mjs: a test file's `import ... from 'uvu'` gets uvu-guard.mjs
// instead, which loads the real uvu (the URL Node would have used, passed on in the query) and wraps it.
// The same function serves module.registerHooks (synchronous nextResolve) and module.register (Node 20,
// where nextResolve may return a promise).
const GUARD = new URL('./uvu-guard.mjs', import.meta.url).href;

const redirect = (real) => ({ url: `${GUARD}?real=${encodeURIComponent(real.url)}`, format: 'module', shortCircuit: true });

export function resolve(specifier, context, nextResolve) {
  if (specifier !== 'uvu') return nextResolve(specifier, context);
  const real = nextResolve(specifier, context);
  return typeof real?.then === 'function' ? real.then(redirect) : redirect(real);
}
