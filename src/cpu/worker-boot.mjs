// Entry of a CPU worker. tsx's hooks do not reach worker threads on Node 20
// (NODE-NOTES.md), so register them here (program objects are TypeScript),
// then load the worker: the bundle of its sources when the runtime built one
// (src/cpu/bundle.ts), else the TypeScript entry.
import { register } from 'tsx/esm/api';
import { register as registerHooks } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { workerData } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/*
 * V8's inlining budget, raised: the per-frame path (a NAPI poll's loop, the
 * program call, the verdict, the redirect and the bulk queue) is a chain of
 * small functions that the default budget (460 bytes of bytecode per
 * function, 920 in all) stops inlining halfway. The flags are the process's
 * and are read when a function is optimized. XDPSIM_V8 adds any others
 * (e.g. --trace-deopt).
 */
setFlagsFromString('--max-inlined-bytecode-size=1000');
setFlagsFromString('--max-inlined-bytecode-size-cumulative=4000');
if (process.env.XDPSIM_V8) setFlagsFromString(process.env.XDPSIM_V8);
/* stack traces of the bundle point into the sources (its .map file) */
process.setSourceMapsEnabled(true);

register();
const b = workerData.bundle;
/* a bundle removed under a long-lived process (bundles unused for an hour are): the sources still work */
const bundled = b && existsSync(fileURLToPath(b.bundle));
if (b && !bundled) process.emitWarning(`xdpsim: cpu ${workerData.cpu}: the worker bundle ${b.bundle} is gone; running the sources`);
if (bundled) {
  /* before the bundle runs: a program object may be loaded as soon as the CPU answers */
  registerHooks(new URL('./bundle-hooks.mjs', import.meta.url), { data: { index: b.index, bundle: b.bundle } });
  await import(b.bundle);
} else {
  await import('./worker.ts');
}
