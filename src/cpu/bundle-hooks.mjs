// Module resolution hooks of a CPU worker that runs the bundle
// (src/cpu/bundle.ts): a program object's 'xdpsim' (or src/index.ts)
// resolves to the bundle, so the program shares the worker's helpers, maps
// and constants. Any other module of src/ imported from outside src/ would
// be a second copy next to the bundle's (its own redirect info, its own map
// classes), so it is refused with an error that says what to import.
let index = '';
let bundle = '';
let src = '';

export function initialize(data) {
  index = data.index;
  bundle = data.bundle;
  src = new URL('./', index).href;
}

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url === index) return { url: bundle, format: 'module', shortCircuit: true };
  const parent = context.parentURL ?? '';
  if (r.url.startsWith(src) && !parent.startsWith(src) && parent !== bundle) {
    throw new Error(`xdpsim: ${parent} imports ${r.url} directly; a program object imports from 'xdpsim' (src/index.ts), which the CPUs share (or run them with XDPSIM_BUNDLE=0)`);
  }
  return r;
}
