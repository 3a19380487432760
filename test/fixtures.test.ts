/*
 * The committed BPF objects (test/objects.ts, built by `npm run fixtures`)
 * are those of today's sources: the manifest lists exactly the objects the
 * tests name, no source changed since its object was built, every object is
 * the one recorded, and no stray object lies beside them. Where the same
 * clang and libbpf headers as the manifest's are installed, rebuilding gives
 * the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  OBJECTS, ROOT, clangVersion, fileHash, fixture, libbpfHeadersVersion, objectPath, readManifest, sourceHash,
} from './objects.ts';

const manifest = readManifest();

test('the manifest lists every object of test/objects.ts, built with a clang that knows -mcpu=v4', () => {
  assert.deepEqual(manifest.objects.map((o) => o.object), OBJECTS.map(objectPath),
    'test/fixtures/objects.json does not match OBJECTS in test/objects.ts: run npm run fixtures');
  assert.match(manifest.compiler, /clang version (1[89]|[2-9]\d)\./);
});

test('no source changed since its object was built, and each object is the recorded one', () => {
  const stale: string[] = [];
  for (const o of manifest.objects) {
    if (sourceHash(o.src) !== o.source_sha256) stale.push(`${o.src} changed since ${o.object} was built`);
    else if (!existsSync(join(ROOT, o.object))) stale.push(`${o.object} is missing`);
    else if (fileHash(join(ROOT, o.object)) !== o.object_sha256) stale.push(`${o.object} is not the object that was built`);
  }
  assert.deepEqual(stale, [], `run npm run fixtures (it needs clang-19 and libbpf-dev) and commit the objects:\n  ${stale.join('\n  ')}`);
});

test('no object in an obj/ directory that the manifest does not list', () => {
  const listed = new Set(manifest.objects.map((o) => o.object));
  const dirs = new Set(manifest.objects.map((o) => dirname(o.object)));
  const stray = [...dirs].flatMap((d) => readdirSync(join(ROOT, d)).map((f) => join(d, f))).filter((f) => !listed.has(f));
  assert.deepEqual(stray, []);
});

test('fixture() gives the committed object, and refuses one that is not listed', () => {
  assert.equal(fixture('helpers', 'v4'), join(ROOT, 'test/fixtures/bpf/obj/helpers.v4.o'));
  assert.equal(readFileSync(fixture('helpers', 'v4')).subarray(0, 4).toString('latin1'), '\x7fELF');
  assert.throws(() => fixture('helpers', 'v5'), /no committed object for test\/fixtures\/bpf\/helpers\.c -mcpu=v5 : add it to OBJECTS in test\/objects\.ts and run npm run fixtures/);
});

test('rebuilt with the same clang and libbpf headers, every object has the same bytes', (t) => {
  const v = clangVersion();
  const libbpf = libbpfHeadersVersion();
  if (v !== manifest.compiler || libbpf !== manifest.libbpf) {
    t.skip(`the objects were built with ${manifest.compiler} and libbpf ${manifest.libbpf} headers; here: ${v ?? 'no clang'}, ${libbpf === null ? 'no libbpf-dev' : `libbpf ${libbpf}`}`);
    return;
  }
  const differ: string[] = [];
  for (const s of OBJECTS) {
    const out = fixture(s.src.slice(s.src.lastIndexOf('/') + 1, -2), s.cpu, s.extra, join(ROOT, dirname(s.src)) + '/', 'rebuilt');
    if (fileHash(out) !== fileHash(join(ROOT, objectPath(s)))) differ.push(objectPath(s));
  }
  assert.deepEqual(differ, [], 'these objects differ from a rebuild of their sources: run npm run fixtures');
});
