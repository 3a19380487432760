// Module resolution hooks of a CPU worker that runs the bundle
// (src/cpu/bundle.ts): a program object's 'xdpsim' (or src/index.ts)
// resolves to the bundle, so the program shares the worker's helpers, maps
// and constants instead of loading a second copy of the sources.
let from = '';
let to = '';

export function initialize(data) {
  from = data.index;
  to = data.bundle;
}

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  return r.url === from ? { url: to, format: 'module', shortCircuit: true } : r;
}
