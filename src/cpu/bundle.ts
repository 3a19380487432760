/*
 * The CPU worker's code as one module, built with esbuild.
 *
 * Why: V8 folds a module's own top-level `const` into the code that reads
 * it, but not an imported one: every `meta[m + FM_LEN]` or
 * `c[row + DEV_XDP_DROP]` in the data path would load FM_LEN or
 * DEV_XDP_DROP through the module's import cell, and a `switch` over
 * imported XDP_* values compares against loaded cells instead of jumping.
 * Measured on this machine (node 20): an imported constant costs about
 * 0.5 ns per use over a literal; the data path reads dozens per frame.
 *
 * So the worker's module graph (src/cpu/worker.ts and everything it and
 * src/index.ts import) is bundled into one file, in which those constants
 * are top-level declarations of the same module. esbuild turns top-level
 * `const` into `var` when it bundles (which V8 cannot fold); a declaration
 * whose value is a constant expression of literals and of such constants,
 * and that nothing assigns again, is turned back into `const`
 * (constifyBundle). Program objects that a worker imports resolve
 * 'xdpsim' (and src/index.ts) to this bundle (src/cpu/bundle-hooks.mjs),
 * so they share its helpers and maps.
 *
 * The bundle is cached in node_modules/.cache/xdpsim/, named by a hash of
 * every source file's path, size and time, so a process builds it at most
 * once per change (about 0.2 s). XDPSIM_BUNDLE=0 turns it off (the worker
 * then runs the sources through tsx, as the main thread does); a failed
 * build does the same, with a warning.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface WorkerBundle {
  /** file URL of the bundle */
  bundle: string;
  /** file URL of src/index.ts: what 'xdpsim' resolves to without the bundle */
  index: string;
}

const SRC = fileURLToPath(new URL('../', import.meta.url));
const ROOT = join(SRC, '..');

let cached: WorkerBundle | null | undefined;

/**
 * The worker bundle, built if the sources changed (or if the one this
 * process used was removed meanwhile); null when bundling is off or the
 * build failed. Each call marks the bundle as used (removeStale).
 */
export function workerBundle(): WorkerBundle | null {
  if (cached === null) return null;
  if (cached !== undefined && touch(cached.bundle)) return cached;
  cached = null;
  if (process.env.XDPSIM_BUNDLE === '0') return null;
  try {
    cached = build();
  } catch (e) {
    process.emitWarning(`xdpsim: the CPU worker bundle could not be built (${(e as Error).message}); CPUs run the sources through tsx, more slowly`);
  }
  return cached;
}

/* mark a bundle as used now; false if it is gone */
function touch(url: string): boolean {
  try {
    const now = new Date();
    const file = fileURLToPath(url);
    utimesSync(file, now, now);
    try {
      utimesSync(`${file}.map`, now, now);
    } catch {
      /* the map only serves stack traces */
    }
    return true;
  } catch {
    return false;
  }
}

/* every input of the build: the sources (path, size, time), the build's settings, node's and esbuild's versions */
function sourceKey(esbuildVersion: string): string {
  const h = createHash('sha256');
  h.update(`${process.version}\0${esbuildVersion}\0`);
  for (const f of ['package.json', 'tsconfig.json']) {
    try {
      h.update(readFileSync(join(ROOT, f)));
    } catch {
      /* an installed package may ship without one */
    }
  }
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|mjs|js)$/.test(e.name)) {
        const st = statSync(p);
        h.update(`${p}\0${st.size}\0${st.mtimeMs}\n`);
      }
    }
  };
  walk(SRC);
  return h.digest('hex').slice(0, 16);
}

function build(): WorkerBundle {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const index = pathToFileURL(join(SRC, 'index.ts')).href;
  const dir = join(ROOT, 'node_modules', '.cache', 'xdpsim');
  const file = join(dir, `worker-${sourceKey(esbuild.version)}.mjs`);
  const result = { bundle: pathToFileURL(file).href, index };
  if (touch(result.bundle)) return result;
  const out = esbuild.buildSync({
    stdin: { contents: "export * from './index.ts';\nimport './cpu/worker.ts';\n", resolveDir: SRC, sourcefile: 'worker-bundle.ts', loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    write: false,
    logLevel: 'silent',
    sourcemap: 'external',
    outfile: file,
  });
  mkdirSync(dir, { recursive: true });
  removeStale(dir, file);
  for (const f of out.outputFiles) {
    const text = f.path.endsWith('.map') ? f.text : checkedConstify(f.text, esbuild);
    /* written aside, then renamed: processes building at once never read half a file */
    const tmp = `${f.path}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, f.path);
  }
  return result;
}

/*
 * constifyBundle(), then esbuild's own check of the result: every
 * "This assignment will throw because X is a constant" it reports (an
 * assignment form the pattern missed) puts X back to var.
 */
export function checkedConstify(text: string, esbuild: typeof import('esbuild')): string {
  let out = constifyBundle(text);
  const r = esbuild.transformSync(out, { loader: 'js', format: 'esm', logLevel: 'silent' });
  const bad = new Set<string>();
  for (const w of r.warnings) {
    const m = /assignment will throw because "([\w$]+)" is a constant/.exec(w.text);
    if (m !== null) bad.add(m[1]!);
  }
  if (bad.size > 0) out = out.replace(/^const ([A-Z][A-Z0-9_]*) = /gm, (all, name: string) => (bad.has(name) ? `var ${name} = ` : all));
  return out;
}

/* Bundles no process used for an hour (each use touches its file), and leftovers of interrupted writes. */
function removeStale(dir: string, keep: string): void {
  const hourAgo = Date.now() - 3600_000;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (!/^worker-[0-9a-f]+\.mjs(\.map)?(\.\d+\.tmp)?$/.test(name) || p.startsWith(keep)) continue;
    try {
      if (statSync(p).mtimeMs < hourAgo) unlinkSync(p);
    } catch {
      /* another process removed it */
    }
  }
}

/*
 * `var NAME = EXPR;` at the top level, NAME in upper case (the sources'
 * spelling of a constant), EXPR made of numeric literals, operators and
 * names already turned into const: back to `const`, unless NAME is
 * assigned anywhere else in the bundle. (Were one missed, the worker would
 * fail loudly at the assignment: a TypeError, never a wrong value.)
 */
export function constifyBundle(text: string): string {
  const lines = text.split('\n');
  const consts = new Set<string>();
  const decl = /^var ([A-Za-z_$][\w$]*) = ([^;]*);$/;
  for (let i = 0; i < lines.length; i++) {
    const m = decl.exec(lines[i]!);
    if (m === null) continue;
    const [, name, expr] = m as unknown as [string, string, string];
    /* our constants are UPPER_CASE (esbuild may add a digit to one it renamed); anything else might be a let */
    if (!/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    const idents = expr.replace(/\b(0x[0-9a-f]+|\d+(\.\d+)?(e[+-]?\d+)?)\b/gi, ' ').match(/[A-Za-z_$][\w$]*/g) ?? [];
    if (!/^[\w$\s()+\-*/%<>|&^~.]*$/.test(expr) || !idents.every((id) => consts.has(id))) continue;
    const esc = name.replace(/\$/g, '\\$');
    const assigned = new RegExp(`(^|[^.\\w$])${esc}\\s*(=(?!=)|\\+\\+|--|[-+*/%|&^]=|<<=|>>>?=)|(\\+\\+|--)\\s*${esc}(?![\\w$])`, 'gm');
    let uses = 0;
    for (const _ of text.matchAll(assigned)) uses++;
    /* the declaration itself is the one allowed match */
    if (uses !== 1) continue;
    lines[i] = `const ${name} = ${expr};`;
    consts.add(name);
  }
  return lines.join('\n');
}
