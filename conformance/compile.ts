/*
 * Compiling the corpus: each conformance/corpus/NAME.c with clang into
 * OUTDIR/NAME.o (-O2 -g -target bpf, libbpf's headers), and the kernel
 * half's loader (conformance/kernel/loader.c) with cc against libbpf.
 * Failures throw with the compiler's output.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CORPUS_DIR = fileURLToPath(new URL('./corpus/', import.meta.url));
export const EXPECTED_DIR = fileURLToPath(new URL('./expected/', import.meta.url));
const LOADER_SRC = fileURLToPath(new URL('./kernel/loader.c', import.meta.url));

/** The version line of a tool, or null if it does not run. */
export function toolVersion(cmd: string): string | null {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return r.stdout.split('\n')[0]!.trim();
}

/** Where <asm/types.h> lives for -target bpf on a Debian-style multiarch system. */
function archIncludes(): string[] {
  const r = spawnSync('gcc', ['-dumpmachine'], { encoding: 'utf8' });
  const triple = r.status === 0 ? r.stdout.trim() : `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  const dir = `/usr/include/${triple}`;
  return existsSync(dir) ? [`-I${dir}`] : [];
}

/** Compile the named corpus sources into outDir; returns name -> object path. */
export function compileCorpus(names: string[], outDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const inc = archIncludes();
  for (const name of new Set(names)) {
    const src = join(CORPUS_DIR, `${name}.c`);
    const obj = join(outDir, `${name}.o`);
    const r = spawnSync('clang', ['-O2', '-g', '-target', 'bpf', '-Wall', ...inc, '-c', src, '-o', obj], { encoding: 'utf8' });
    if (r.error) throw new Error(`clang: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`clang failed on ${src}:\n${r.stderr}`);
    out.set(name, obj);
  }
  return out;
}

/** Compile the kernel half's loader into outDir; returns its path. */
export function compileLoader(outDir: string): string {
  const bin = join(outDir, 'loader');
  execFileSync('cc', ['-O2', '-Wall', '-o', bin, LOADER_SRC, '-lbpf'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return bin;
}
