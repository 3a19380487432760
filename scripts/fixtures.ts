/*
 * npm run fixtures: build every compiled BPF object the tests use (the list
 * is OBJECTS in test/objects.ts) from its C source with clang, into
 * DIR/obj/ beside the source, and record them in test/fixtures/objects.json
 * with the compiler's version, libbpf's headers' version, and the hashes of
 * each source and object. Run it after changing a C fixture, the corpus or
 * examples/bpf, and commit the objects with the source. It needs clang
 * (the newest clang-N installed, or $XDPSIM_CLANG; one that knows
 * -mcpu=v4) and libbpf-dev.
 *
 *   npm run fixtures [-- --check]   --check: rebuild into a temporary directory and
 *                                   report objects whose bytes differ from the committed ones
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  MANIFEST, OBJECTS, ROOT, buildObject, clangHasV4, clangVersion, fileHash, libbpfHeadersVersion, objectPath, sourceHash, type Manifest,
} from '../test/objects.ts';

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });

const version = clangVersion();
if (version === null) {
  console.error('Error: clang is not installed (apt-get install clang libbpf-dev; clang-19 for -mcpu=v4)');
  process.exit(1);
}
if (!clangHasV4()) {
  console.error(`Error: ${version} has no -mcpu=v4: install clang-18 or newer (apt-get install clang-19), or set XDPSIM_CLANG`);
  process.exit(1);
}
const libbpf = libbpfHeadersVersion();
if (libbpf === null) {
  console.error('Error: libbpf-dev is not installed (/usr/include/bpf/libbpf_version.h is missing)');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'xdpsim-fixtures-'));
try {
  const manifest: Manifest = { compiler: version, libbpf, built: new Date().toISOString().slice(0, 10), objects: [] };
  let differ = 0;
  for (const s of OBJECTS) {
    const path = objectPath(s);
    const out = join(work, path.replace(/\//g, '_'));
    buildObject(s, out);
    if (values.check) {
      let same = false;
      try { same = fileHash(out) === fileHash(join(ROOT, path)); } catch { /* missing */ }
      if (!same) { differ++; console.log(`differs: ${path}`); }
      continue;
    }
    mkdirSync(dirname(join(ROOT, path)), { recursive: true });
    renameSync(out, join(ROOT, path));
    manifest.objects.push({ ...s, object: path, source_sha256: sourceHash(s.src), object_sha256: fileHash(join(ROOT, path)) });
  }
  if (values.check) {
    console.log(`${OBJECTS.length} objects rebuilt with ${version}: ${differ} differ from the committed ones`);
    process.exitCode = differ ? 1 : 0;
  } else {
    writeFileSync(MANIFEST, JSON.stringify(manifest, null, 1) + '\n');
    console.log(`${OBJECTS.length} objects built with ${version} (libbpf ${libbpf} headers); ${MANIFEST.slice(ROOT.length)} written`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
