/*
 * The compiled BPF objects the tests use, committed beside their C sources
 * so that `npm test` needs no clang: every object is listed here once, built
 * by `npm run fixtures` (scripts/fixtures.ts) into DIR/obj/NAME.CPU[.FLAGS].o,
 * and recorded with the compiler's version and the hashes of its sources in
 * test/fixtures/objects.json. test/fixtures.test.ts checks, with or without
 * clang, that no source changed since its object was built; where clang is
 * present the tests also rebuild each object from its source (into a
 * temporary directory) and run the same assertions on it, so a source and its
 * object cannot drift apart.
 *
 * A test names an object as (source, cpu, extra flags) and a build:
 * `fixture('helpers', 'v1', [], FIXTURES, 'rebuilt')`. The rebuilt half of a
 * test is skipped, with the reason, where clang (or a clang with -mcpu=v4)
 * is missing: `buildSkip(build, cpu)`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const FIXTURES = join(ROOT, 'test/fixtures/bpf/');
export const CONFORMANCE_CORPUS = join(ROOT, 'conformance/corpus/');
export const EXAMPLES_BPF = join(ROOT, 'examples/bpf/');
export const MANIFEST = join(ROOT, 'test/fixtures/objects.json');

/** One object: its C source (relative to the repository), -mcpu and extra clang flags. */
export interface ObjectSpec { src: string; cpu: string; extra: string[] }

const CPUS = ['v1', 'v2', 'v3', 'v4'];
const rel = (dir: string, name: string): string => relative(ROOT, join(dir, `${name}.c`));

/** Every object a test uses. Add one here, then run `npm run fixtures`. */
export const OBJECTS: ObjectSpec[] = [
  ...['calc', 'cpumap_xsk', 'helpers', 'oob', 'sections', 'xdp_count'].flatMap((n) => CPUS.map((cpu) => ({ src: rel(FIXTURES, n), cpu, extra: [] }))),
  /* errors.c's refusals, one object per -D variant (test/bpf-elf.test.ts) */
  ...['-DLEGACY_MAPS', '-DUNKNOWN_FIELD', '-DRINGBUF', '-DKSYM', '-DTC', '-DHELPER', '-DPRINTK -DPROPRIETARY']
    .map((f) => ({ src: rel(FIXTURES, 'errors'), cpu: 'v3', extra: f.split(' ') })),
  /* programs that would never end: a loop (ended at run time) and recursion (refused at load) */
  { src: rel(FIXTURES, 'hostile'), cpu: 'v3', extra: [] },
  { src: rel(FIXTURES, 'hostile'), cpu: 'v3', extra: ['-DRECURSE'] },
  /* no BTF (-g0 undoes -g) and big-endian: objects the loader refuses */
  { src: rel(FIXTURES, 'xdp_count'), cpu: 'v3', extra: ['-g0'] },
  { src: rel(FIXTURES, 'xdp_count'), cpu: 'v3', extra: ['-mbig-endian'] },
  ...['adjust', 'doc_broadcast', 'doc_forward_map', 'past_data_end', 'redirect', 'verdicts']
    .flatMap((n) => ['v1', 'v2', 'v3'].map((cpu) => ({ src: rel(CONFORMANCE_CORPUS, n), cpu, extra: [] }))),
  { src: rel(EXAMPLES_BPF, 'xdp_bench'), cpu: 'v1', extra: [] },
  { src: rel(EXAMPLES_BPF, 'xdp_bench'), cpu: 'v3', extra: [] },
];

/** Where the committed object of a spec lives (relative to the repository). */
export function objectPath(s: ObjectSpec): string {
  const name = s.src.slice(s.src.lastIndexOf('/') + 1, -2);
  const flags = s.extra.length ? '.' + s.extra.join('').replace(/[^A-Za-z0-9]/g, '') : '';
  return join(dirname(s.src), 'obj', `${name}.${s.cpu}${flags}.o`);
}

/*
 * The compiler: $XDPSIM_CLANG, else the newest versioned clang installed
 * (clang 18 and later know -mcpu=v4; Debian 12's plain clang is 14), else clang.
 */
let clangCmd: string | null | undefined;
export function clang(): string | null {
  if (clangCmd !== undefined) return clangCmd;
  const names = [process.env.XDPSIM_CLANG, 'clang-21', 'clang-20', 'clang-19', 'clang-18', 'clang'].filter((n): n is string => !!n);
  clangCmd = names.find((n) => {
    const r = spawnSync(n, ['--version'], { encoding: 'utf8' });
    return !r.error && r.status === 0;
  }) ?? null;
  return clangCmd;
}

/** clang's version line, or null if clang does not run. */
export function clangVersion(): string | null {
  const cmd = clang();
  if (cmd === null) return null;
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? null : r.stdout.split('\n')[0]!;
}

/** Does this clang know -mcpu=v4 (clang 18 and later)? */
export function clangHasV4(): boolean {
  const m = /version (\d+)/.exec(clangVersion() ?? '');
  return m !== null && Number(m[1]) >= 18;
}

/** The include directory of <asm/types.h> for -target bpf on a Debian-style multiarch system. */
function archIncludes(): string[] {
  const triple = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  return existsSync(`/usr/include/${triple}`) ? [`-I/usr/include/${triple}`] : [];
}

/**
 * Compile a spec into `out` with `clang -O2 -g -target bpf -mcpu=CPU`; file
 * names in the debug info and BTF are relative to the repository, so the
 * bytes do not depend on where the checkout is. Throws with clang's output.
 */
export function buildObject(s: ObjectSpec, out: string): void {
  const cc = clang();
  if (cc === null) throw new Error('clang is not installed: the objects cannot be built (apt-get install clang libbpf-dev)');
  const args = ['-O2', '-g', '-target', 'bpf', `-mcpu=${s.cpu}`, `-fdebug-prefix-map=${ROOT.replace(/\/$/, '')}=.`,
    ...archIncludes(), ...s.extra, '-c', join(ROOT, s.src), '-o', out];
  const r = spawnSync(cc, args, { encoding: 'utf8', cwd: ROOT });
  if (r.error) throw new Error(`${cc}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cc} failed on ${s.src}:\n${r.stderr}`);
}

/** sha256 of a source and of every header beside it (what a quoted #include can pull in). */
export function sourceHash(src: string): string {
  const h = createHash('sha256');
  const dir = dirname(join(ROOT, src));
  h.update(readFileSync(join(ROOT, src)));
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.h')).sort()) h.update(`\0${f}\0`).update(readFileSync(join(dir, f)));
  return h.digest('hex');
}

export function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The version of libbpf's installed headers ("1.1"), or null without libbpf-dev. */
export function libbpfHeadersVersion(): string | null {
  try {
    const h = readFileSync('/usr/include/bpf/libbpf_version.h', 'utf8');
    return `${/LIBBPF_MAJOR_VERSION (\d+)/.exec(h)?.[1]}.${/LIBBPF_MINOR_VERSION (\d+)/.exec(h)?.[1]}`;
  } catch {
    return null;
  }
}

export interface Manifest {
  compiler: string;
  libbpf: string;
  built: string;
  objects: { src: string; cpu: string; extra: string[]; object: string; source_sha256: string; object_sha256: string }[];
}

export function readManifest(): Manifest {
  return JSON.parse(readFileSync(MANIFEST, 'utf8')) as Manifest;
}

/* ---------------- for the tests ---------------- */

export type Build = 'committed' | 'rebuilt';
/** Every test of a compiled object runs once per build. */
export const BUILDS: readonly Build[] = ['committed', 'rebuilt'];

/** The skip reason of a build's half of a test here, or false if it runs. */
export function buildSkip(build: Build, cpu = 'v3'): string | false {
  if (build === 'committed') return false;
  if (clangVersion() === null) return 'clang is not installed: the object is not rebuilt from its source here (the committed object was tested; .ci/run installs clang)';
  if (cpu === 'v4' && !clangHasV4()) return `${clangVersion()} has no -mcpu=v4 (clang 18+): the v4 object is not rebuilt here (the committed one was tested)`;
  return false;
}

function findSpec(src: string, cpu: string, extra: string[]): ObjectSpec {
  const s = OBJECTS.find((o) => o.src === src && o.cpu === cpu && o.extra.join(' ') === extra.join(' '));
  if (s === undefined) throw new Error(`no committed object for ${src} -mcpu=${cpu} ${extra.join(' ')}: add it to OBJECTS in test/objects.ts and run npm run fixtures`);
  return s;
}

let tmp: string | null = null;
const rebuilt = new Map<string, string>();

/**
 * The object of DIR/NAME.c at -mcpu=cpu with extra flags: the committed one,
 * or (build 'rebuilt') the same spec compiled now into a temporary directory.
 */
export function fixture(name: string, cpu = 'v3', extra: string[] = [], dir = FIXTURES, build: Build = 'committed'): string {
  const s = findSpec(rel(dir, name), cpu, extra);
  if (build === 'committed') {
    const p = join(ROOT, objectPath(s));
    if (!existsSync(p)) throw new Error(`${objectPath(s)} is missing: run npm run fixtures`);
    return p;
  }
  const key = objectPath(s);
  let out = rebuilt.get(key);
  if (out === undefined) {
    if (tmp === null) {
      const dir = mkdtempSync(join(tmpdir(), 'xdpsim-bpf-'));
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      tmp = dir;
    }
    /* the same file name as the committed object: libbpf names an object (and its .bss, .rodata maps) after it */
    const dir = join(tmp, dirname(key));
    mkdirSync(dir, { recursive: true });
    out = join(dir, basename(key));
    buildObject(s, out);
    rebuilt.set(key, out);
  }
  return out;
}
