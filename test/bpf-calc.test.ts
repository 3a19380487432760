/*
 * clang's code for a loop-heavy C program (test/fixtures/bpf/calc.c: FNV-1a
 * over the packet with 64-bit multiplies, shifts, a popcount loop,
 * divisions, an arithmetic shift, a struct-keyed hash map and an atomic
 * add), compiled for v1 to v4 (the committed objects, and rebuilt where
 * clang is installed), gives what the same computation gives
 * in TypeScript (BigInt), on packets of many sizes and contents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILDS, buildSkip, fixture } from './objects.ts';
import { BpfTestRun } from '../src/bpf/load.ts';

const M64 = (1n << 64n) - 1n;

function reference(p: Uint8Array): bigint[] {
  let fnv = 0xcbf29ce484222325n, sum = 0n, mx = 0n;
  for (let i = 0; i < 128 && i < p.length; i++) {
    fnv ^= BigInt(p[i]!);
    fnv = (fnv * 0x100000001b3n) & M64;
    sum = (sum + (BigInt(p[i]!) << BigInt(i % 61))) & M64;
    if (BigInt(p[i]!) > mx) mx = BigInt(p[i]!);
  }
  let pop = 0n;
  for (let x = fnv; x; x &= x - 1n) pop++;
  return [fnv, sum, pop, mx, sum / (mx | 1n), fnv % (sum | 1n), BigInt.asUintN(64, BigInt.asIntN(64, fnv) >> 7n)];
}

/* a deterministic byte sequence (xorshift32) */
function bytes(n: number, seed: number): Uint8Array {
  let x = seed | 1;
  return Uint8Array.from({ length: n }, () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return x & 0xff;
  });
}

for (const build of BUILDS) for (const cpu of ['v1', 'v2', 'v3', 'v4']) {
  test(`calc.c at -mcpu=${cpu} (${build}): the same 64-bit results as BigInt, the hash map counts`, { skip: buildSkip(build, cpu) }, () => {
    const t = new BpfTestRun(fixture('calc', cpu, [], undefined, build));
    const sizes = [14, 15, 60, 64, 127, 128, 129, 300, 1500];
    for (const [k, n] of sizes.entries()) {
      for (const seed of [1, 0xdeadbeef, 12345 + k]) {
        const data = seed === 1 ? new Uint8Array(n).fill(0xff) : bytes(n, seed);
        const r = t.run('calc', { data });
        assert.equal(r.error, undefined);
        assert.equal(r.retval, 2);
        const v = t.maps['.bss']!.lookup(0)!;
        const dv = new DataView(v.buffer, v.byteOffset);
        const got = Array.from({ length: 7 }, (_, i) => dv.getBigUint64(i * 8, true));
        assert.deepEqual(got.map((x) => x.toString(16)), reference(data).map((x) => x.toString(16)), `size ${n} seed ${seed}`);
      }
    }
    /* the all-0xff packets share a key: counted 9 times (once per size); a repeat adds one */
    const r = t.run('calc', { data: new Uint8Array(64).fill(0xff) });
    assert.equal(r.error, undefined);
    const v = t.maps['.bss']!.lookup(0)!;
    assert.equal(new DataView(v.buffer, v.byteOffset).getBigUint64(56, true), 10n);
  });
}
