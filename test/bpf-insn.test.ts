/*
 * The translator, instruction class by instruction class, on hand-assembled
 * programs, against a BigInt model of the kernel's interpreter
 * (test/bpf-asm.ts): ALU and ALU64 (every op, register and immediate
 * sources, 64-bit edge values: overflow, shifts by 63, signed division by
 * -1, x/0 = 0 and x%0 = x, the upper half zeroed by 32-bit ops), sign
 * extending moves, byte swaps, JMP and JMP32, loads and stores of every
 * size (and sign-extending loads), atomics, 64-bit immediates, calls
 * between functions.
 */
import { test } from 'node:test';
import { XdpsimError } from '../src/shared/errno.ts';
import assert from 'node:assert/strict';
import { I, U64, arrayMap, cat, refAlu, refJmp, runOut } from './bpf-asm.ts';
import { BpfTestRun, prepareInsns } from '../src/bpf/load.ts';

const B = 0x10, H = 0x08, W = 0x00, DW = 0x18;
const EDGE: bigint[] = [0n, 1n, -1n, 2n, 3n, 7n, -7n, 0x7fffffffn, -0x80000000n, 0xffffffffn, 0x100000000n,
  0x7fffffffffffffffn, -0x8000000000000000n, 0x123456789abcdef0n, -0x123456789n, 31n, 32n, 63n, 64n];
const IMMS = [0, 1, -1, 2, 7, -7, 0x7fffffff, -0x80000000, 31, 32, 63];
const ALU_OPS: Record<string, number> = {
  add: 0x00, sub: 0x10, mul: 0x20, div: 0x30, or: 0x40, and: 0x50, lsh: 0x60, rsh: 0x70, mod: 0x90, xor: 0xa0, mov: 0xb0, arsh: 0xc0,
};

/* every pair through one program: r1 = a, r2 = b, op, out[i] = r1 */
function aluPairs(op: number, is64: boolean, reg: boolean, signed: boolean): void {
  const pairs: [bigint, bigint][] = [];
  if (reg) for (const a of EDGE) for (const b of EDGE) pairs.push([a, b]);
  else for (const a of EDGE) for (const b of IMMS) pairs.push([a, BigInt(b)]);
  const body: Uint8Array[] = [I.ldMapValue(9, 0)];
  for (let i = 0; i < pairs.length; i++) {
    const [a, b] = pairs[i]!;
    body.push(I.ld64(1, a));
    if (reg) {
      body.push(I.ld64(2, b));
      body.push(is64 ? I.alu64r(op, 1, 2, signed ? 1 : 0) : I.alu32r(op, 1, 2, signed ? 1 : 0));
    } else {
      body.push(is64 ? I.alu64k(op, 1, Number(b), signed ? 1 : 0) : I.alu32k(op, 1, Number(b), signed ? 1 : 0));
    }
    body.push(I.stx(DW, 9, 1, i * 8));
  }
  body.push(I.mov64(0, 2), I.exit());
  const r = runOut(body, pairs.length);
  assert.equal(r.error, undefined);
  for (let i = 0; i < pairs.length; i++) {
    const [a, b] = pairs[i]!;
    const want = refAlu(op, a, b, is64, signed);
    if (r.out[i] !== want) {
      assert.fail(`${is64 ? 'alu64' : 'alu32'} op 0x${op.toString(16)}${signed ? ' (signed)' : ''} ${reg ? 'reg' : 'imm'}: ` +
        `0x${U64(a).toString(16)} , 0x${U64(b).toString(16)} = 0x${r.out[i]!.toString(16)}, expected 0x${want.toString(16)}`);
    }
  }
}

for (const [name, op] of Object.entries(ALU_OPS)) {
  for (const is64 of [true, false]) {
    for (const reg of [true, false]) {
      test(`${is64 ? 'ALU64' : 'ALU'} ${name} ${reg ? 'X' : 'K'}: every edge pair as the kernel computes it`, () => aluPairs(op, is64, reg, false));
    }
  }
}

for (const [name, op] of [['sdiv', 0x30], ['smod', 0x90]] as const) {
  for (const is64 of [true, false]) {
    for (const reg of [true, false]) {
      test(`${is64 ? 'ALU64' : 'ALU'} ${name} ${reg ? 'X' : 'K'} (v4): truncating, x/0 = 0, x%0 = x, MIN/-1 = MIN, MIN%-1 = 0`, () => aluPairs(op, is64, reg, true));
    }
  }
}

test('the documented edge cases, spelled out', () => {
  const cases: [Uint8Array[], bigint][] = [
    /* 64-bit overflow wraps */
    [[I.ld64(1, 0x7fffffffffffffffn), I.alu64(0x00, 1, 1)], 0x8000000000000000n],
    [[I.ld64(1, -1n), I.alu64(0x00, 1, 1)], 0n],
    [[I.ld64(1, 0xffffffffn), I.alu64(0x00, 1, 1)], 0x100000000n],
    [[I.ld64(1, 0n), I.alu64(0x10, 1, 1)], 0xffffffffffffffffn],
    [[I.ld64(1, 0x100000000n), I.ld64(2, 0x100000000n), I.alu64r(0x20, 1, 2)], 0n],
    [[I.ld64(1, 0xffffffffn), I.ld64(2, 0xffffffffn), I.alu64r(0x20, 1, 2)], 0xfffffffe00000001n],
    /* shifts by 63 */
    [[I.mov64(1, 1), I.alu64(0x60, 1, 63)], 0x8000000000000000n],
    [[I.ld64(1, -0x8000000000000000n), I.alu64(0x70, 1, 63)], 1n],
    [[I.ld64(1, -0x8000000000000000n), I.alu64(0xc0, 1, 63)], 0xffffffffffffffffn],
    [[I.ld64(1, 0x8000000000000000n), I.mov64(2, 127), I.alu64r(0xc0, 1, 2)], 0xffffffffffffffffn],
    /* division by zero: x/0 = 0, x%0 = x; 32-bit: the upper half zeroed */
    [[I.ld64(1, 12345n), I.mov64(2, 0), I.alu64r(0x30, 1, 2)], 0n],
    [[I.ld64(1, 0x1234567887654321n), I.mov64(2, 0), I.alu64r(0x90, 1, 2)], 0x1234567887654321n],
    [[I.ld64(1, 0x1234567887654321n), I.mov64(2, 0), I.alu32r(0x90, 1, 2)], 0x87654321n],
    [[I.ld64(1, 0x1234567887654321n), I.mov64(2, 0), I.alu32r(0x30, 1, 2)], 0n],
    /* signed division by -1 */
    [[I.ld64(1, -0x8000000000000000n), I.alu64k(0x30, 1, -1, 1)], 0x8000000000000000n],
    [[I.ld64(1, -0x8000000000000000n), I.alu64k(0x90, 1, -1, 1)], 0n],
    [[I.ld64(1, -0x80000000n), I.alu32k(0x30, 1, -1, 1)], 0x80000000n],
    [[I.ld64(1, -13n), I.alu64k(0x90, 1, 3, 1)], U64(-1n)],
    [[I.ld64(1, -13n), I.alu64k(0x30, 1, 3, 1)], U64(-4n)],
    /* 32-bit ops zero the upper half, even a mov */
    [[I.ld64(1, -1n), I.alu32(0xb0, 1, -1)], 0xffffffffn],
    [[I.ld64(1, -1n), I.alu32(0x00, 1, 0)], 0xffffffffn],
    /* 64-bit immediates are sign-extended */
    [[I.mov64(1, -2)], 0xfffffffffffffffen],
    [[I.ld64(1, 0xffffffffn), I.alu64(0x50, 1, -1)], 0xffffffffn],
  ];
  const body: Uint8Array[] = [I.ldMapValue(9, 0)];
  cases.forEach(([code], i) => body.push(...code, I.stx(DW, 9, 1, i * 8)));
  body.push(I.mov64(0, 2), I.exit());
  const r = runOut(body, cases.length);
  assert.equal(r.error, undefined);
  assert.deepEqual(r.out, cases.map(([, v]) => v));
});

test('NEG, MOVSX (v4) and the byte swaps', () => {
  const cases: [Uint8Array[], bigint][] = [
    [[I.mov64(1, 5), I.alu64(0x80, 1, 0)], U64(-5n)],
    [[I.ld64(1, -0x8000000000000000n), I.alu64(0x80, 1, 0)], 0x8000000000000000n],
    [[I.ld64(1, 0x100000000n), I.alu64(0x80, 1, 0)], 0xffffffff00000000n],
    [[I.ld64(1, 0x1234567800000005n), I.alu32(0x80, 1, 0)], 0xfffffffbn],
    /* movsx */
    [[I.ld64(2, 0x1234567890abcd80n), I.alu64r(0xb0, 1, 2, 8)], U64(-128n)],
    [[I.ld64(2, 0x1234567890ab7f80n), I.alu64r(0xb0, 1, 2, 16)], 0x7f80n],
    [[I.ld64(2, 0x1234567890ab8001n), I.alu64r(0xb0, 1, 2, 16)], U64(-0x7fffn)],
    [[I.ld64(2, 0x1234567890abcdefn), I.alu64r(0xb0, 1, 2, 32)], U64(-0x6f543211n)],
    [[I.ld64(2, 0x12345678000000ffn), I.alu32r(0xb0, 1, 2, 8)], 0xffffffffn],
    [[I.ld64(2, 0x1234567800008000n), I.alu32r(0xb0, 1, 2, 16)], 0xffff8000n],
    /* to little endian (a truncation on this machine), to big endian, bswap */
    [[I.ld64(1, 0x0102030405060708n), I.end(0x04, false, 1, 16)], 0x0708n],
    [[I.ld64(1, 0x0102030405060708n), I.end(0x04, false, 1, 32)], 0x05060708n],
    [[I.ld64(1, 0x0102030405060708n), I.end(0x04, false, 1, 64)], 0x0102030405060708n],
    [[I.ld64(1, 0x0102030405060708n), I.end(0x04, true, 1, 16)], 0x0807n],
    [[I.ld64(1, 0x0102030405060708n), I.end(0x04, true, 1, 32)], 0x08070605n],
    [[I.ld64(1, 0x0102030405060708n), I.end(0x04, true, 1, 64)], 0x0807060504030201n],
    [[I.ld64(1, 0x01020304050607f8n), I.end(0x07, false, 1, 16)], 0xf807n],
    [[I.ld64(1, 0x01020304f5060708n), I.end(0x07, false, 1, 32)], 0x080706f5n],
    [[I.ld64(1, 0x8102030405060708n), I.end(0x07, false, 1, 64)], 0x0807060504030281n],
  ];
  const body: Uint8Array[] = [I.ldMapValue(9, 0)];
  cases.forEach(([code], i) => body.push(...code, I.stx(DW, 9, 1, i * 8)));
  body.push(I.mov64(0, 2), I.exit());
  const r = runOut(body, cases.length);
  assert.equal(r.error, undefined);
  assert.deepEqual(r.out.map((v) => '0x' + v.toString(16)), cases.map(([, v]) => '0x' + v.toString(16)));
});

const JMP_OPS: Record<string, number> = {
  jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40, jne: 0x50, jsgt: 0x60, jsge: 0x70, jlt: 0xa0, jle: 0xb0, jslt: 0xc0, jsle: 0xd0,
};
for (const [name, op] of Object.entries(JMP_OPS)) {
  for (const is32 of [false, true]) {
    for (const reg of [true, false]) {
      test(`${is32 ? 'JMP32' : 'JMP'} ${name} ${reg ? 'X' : 'K'}: taken exactly when the kernel takes it`, () => {
        const pairs: [bigint, bigint][] = [];
        if (reg) for (const a of EDGE) for (const b of EDGE) pairs.push([a, b]);
        else for (const a of EDGE) for (const b of IMMS) pairs.push([a, BigInt(b)]);
        const body: Uint8Array[] = [I.ldMapValue(9, 0)];
        pairs.forEach(([a, b], i) => {
          body.push(I.ld64(1, a), I.mov64(3, 0));
          if (reg) body.push(I.ld64(2, b), is32 ? I.jmp32r(op, 1, 2, 1) : I.jmpr(op, 1, 2, 1));
          else body.push(is32 ? I.jmp32(op, 1, Number(b), 1) : I.jmp(op, 1, Number(b), 1));
          body.push(I.ja(1), I.mov64(3, 1), I.stx(DW, 9, 3, i * 8));
        });
        body.push(I.mov64(0, 2), I.exit());
        const r = runOut(body, pairs.length);
        assert.equal(r.error, undefined);
        pairs.forEach(([a, b], i) => {
          const want = refJmp(op, a, b, is32) ? 1n : 0n;
          if (r.out[i] !== want) assert.fail(`${name}${is32 ? '32' : ''} 0x${U64(a).toString(16)}, 0x${U64(b).toString(16)}: ${r.out[i]}, expected ${want}`);
        });
      });
    }
  }
}

test('JA, gotol (JMP32 JA) and a backward loop', () => {
  const r = runOut([
    I.ldMapValue(9, 0),
    I.mov64(1, 0), I.ja(1), I.mov64(1, 99), I.stx(DW, 9, 1, 0),
    I.mov64(1, 0), I.gotol(1), I.mov64(1, 98), I.stx(DW, 9, 1, 8),
    /* sum of 1..10 with a loop */
    I.mov64(1, 0), I.mov64(2, 10),
    I.alu64r(0x00, 1, 2), I.alu64(0x10, 2, 1), I.jmp(0x50, 2, 0, -3),
    I.stx(DW, 9, 1, 16),
    I.mov64(0, 3), I.exit(),
  ], 3);
  assert.equal(r.error, undefined);
  assert.equal(r.retval, 3);
  assert.deepEqual(r.out, [0n, 0n, 55n]);
});

test('loads and stores of every size on the stack, a map value and the packet; sign-extending loads', () => {
  const pattern = 0x8182838485868788n;
  const body: Uint8Array[] = [
    I.ldMapValue(9, 0),
    I.ld64(1, pattern),
    /* stack */
    I.stx(DW, 10, 1, -8),
    I.ldx(B, 2, 10, -8), I.stx(DW, 9, 2, 0),
    I.ldx(H, 2, 10, -7), I.stx(DW, 9, 2, 8),
    I.ldx(W, 2, 10, -6), I.stx(DW, 9, 2, 16),
    I.ldx(DW, 2, 10, -8), I.stx(DW, 9, 2, 24),
    I.ldsx(B, 2, 10, -8), I.stx(DW, 9, 2, 32),
    I.ldsx(H, 2, 10, -8), I.stx(DW, 9, 2, 40),
    I.ldsx(W, 2, 10, -8), I.stx(DW, 9, 2, 48),
    /* ST of each size into the map value 'mem' (map 1) */
    I.ldMapValue(8, 1),
    I.st(B, 8, 0, 0x1ff), I.st(H, 8, 2, -2), I.st(W, 8, 4, 0x7abbccdd), I.st(DW, 8, 8, -3),
    I.stx(B, 8, 1, 16), I.stx(H, 8, 1, 18), I.stx(W, 8, 1, 20), I.stx(DW, 8, 1, 24),
  ];
  /* r6 = ctx before r1 is used */
  body.splice(1, 0, I.mov64r(6, 1));
  /* the packet: data..data_end, loads and stores */
  body.push(
    I.ldx(W, 2, 6, 0), I.ldx(W, 3, 6, 4), I.mov64r(4, 2), I.alu64(0x00, 4, 16), I.jmpr(0x20, 4, 3, 9),
    I.ldx(B, 5, 2, 0), I.stx(DW, 9, 5, 56),
    I.ldx(H, 5, 2, 1), I.stx(DW, 9, 5, 64),
    I.ldx(W, 5, 2, 4), I.stx(DW, 9, 5, 72),
    I.ldx(DW, 5, 2, 8), I.stx(DW, 9, 5, 80),
    I.stx(DW, 2, 1, 0),
    I.mov64(0, 2), I.exit(),
  );
  const data = Uint8Array.from({ length: 64 }, (_, i) => (i * 17 + 3) & 0xff);
  const t = new BpfTestRun(prepareInsns(cat(...body), { maps: [arrayMap('out', 88), arrayMap('mem', 32)] }));
  const r = t.run('prog', { data });
  assert.equal(r.error, undefined);
  assert.equal(r.retval, 2);
  const v = t.maps.out!.lookup(0)!;
  const dv = new DataView(v.buffer, v.byteOffset);
  const out = Array.from({ length: 11 }, (_, i) => dv.getBigUint64(i * 8, true));
  const pdv = new DataView(data.buffer);
  assert.deepEqual(out, [
    0x88n, 0x8687n, 0x83848586n, pattern, U64(-0x78n), U64(-0x7878n), U64(-0x7a797878n),
    BigInt(data[0]!), BigInt(pdv.getUint16(1, true)), BigInt(pdv.getUint32(4, true)), pdv.getBigUint64(8, true),
  ]);
  assert.deepEqual([...t.maps.mem!.lookup(0)!], [
    0xff, 0, 0xfe, 0xff, 0xdd, 0xcc, 0xbb, 0x7a, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x88, 0, 0x88, 0x87, 0x88, 0x87, 0x86, 0x85, 0x88, 0x87, 0x86, 0x85, 0x84, 0x83, 0x82, 0x81,
  ]);
  assert.deepEqual([...r.data.subarray(0, 8)], [0x88, 0x87, 0x86, 0x85, 0x84, 0x83, 0x82, 0x81]);
  assert.deepEqual([...r.data.subarray(8)], [...data.subarray(8)]);
});

test('atomics: add, or, and, xor (with and without fetch), xchg, cmpxchg, 32 and 64 bits, on a map value and the stack', () => {
  const ops: [string, number][] = [['add', 0x00], ['or', 0x40], ['and', 0x50], ['xor', 0xa0]];
  const init = 0x00000001ffffff0fn;
  const arg = 0x00000001000000f1n;
  const body: Uint8Array[] = [I.ldMapValue(9, 0), I.ldMapValue(8, 1)];
  const want: bigint[] = [];
  let slot = 0;
  const mem = (i: number) => i * 8;
  let cell = 0;
  for (const onStack of [false, true]) {
    for (const size of [W, DW]) {
      for (const [, op] of ops) {
        for (const fetch of [false, true]) {
          const base = onStack ? 10 : 8;
          const off = onStack ? -8 * (1 + (cell % 60)) : mem(cell % 60);
          cell++;
          body.push(I.ld64(1, init), I.stx(DW, base, 1, off), I.ld64(2, arg), I.atomic(size, base, 2, off, op | (fetch ? 1 : 0)));
          body.push(I.ldx(DW, 3, base, off), I.stx(DW, 9, 3, slot * 8), I.stx(DW, 9, 2, (slot + 1) * 8));
          const a = size === DW ? init : init & 0xffffffffn;
          const b = size === DW ? arg : arg & 0xffffffffn;
          const res = op === 0x00 ? a + b : op === 0x40 ? a | b : op === 0x50 ? a & b : a ^ b;
          const stored = size === DW ? U64(res) : (init & 0xffffffff00000000n) | (res & 0xffffffffn);
          want.push(stored, fetch ? a : arg);
          slot += 2;
        }
      }
      /* xchg, cmpxchg hit, cmpxchg miss */
      const base = onStack ? 10 : 8;
      const off = onStack ? -8 * (1 + (cell % 60)) : mem(cell % 60);
      cell++;
      const a = size === DW ? init : init & 0xffffffffn;
      body.push(I.ld64(1, init), I.stx(DW, base, 1, off), I.ld64(2, arg), I.atomic(size, base, 2, off, 0xe1));
      body.push(I.ldx(DW, 3, base, off), I.stx(DW, 9, 3, slot * 8), I.stx(DW, 9, 2, (slot + 1) * 8));
      want.push(size === DW ? arg : (init & 0xffffffff00000000n) | (arg & 0xffffffffn), a);
      slot += 2;
      for (const hit of [true, false]) {
        body.push(I.ld64(1, init), I.stx(DW, base, 1, off), I.ld64(2, arg), I.ld64(0, hit ? init : 5n), I.atomic(size, base, 2, off, 0xf1));
        body.push(I.ldx(DW, 3, base, off), I.stx(DW, 9, 3, slot * 8), I.stx(DW, 9, 0, (slot + 1) * 8));
        want.push(hit ? (size === DW ? arg : (init & 0xffffffff00000000n) | (arg & 0xffffffffn)) : init, a);
        slot += 2;
      }
    }
  }
  body.push(I.mov64(0, 2), I.exit());
  const r = runOut(body, slot, { maps: [arrayMap('mem', 480)] });
  assert.equal(r.error, undefined);
  assert.deepEqual(r.out.map((v) => v.toString(16)), want.map((v) => v.toString(16)));
});

test('ld_imm64: a 64-bit constant, a map (PSEUDO_MAP_IDX) for a helper, a map value (PSEUDO_MAP_IDX_VALUE) with an offset', () => {
  const r = runOut([
    I.ldMapValue(9, 0),
    I.ld64(1, 0xfedcba9876543210n), I.stx(DW, 9, 1, 0),
    /* bpf_map_lookup_elem(&data, &key 0) reads what the value pointer at offset 4 wrote */
    I.ldMapValue(7, 1, 4), I.st(W, 7, 0, 0x5555), I.st(W, 10, -4, 0), I.ldMap(1, 1), I.mov64r(2, 10), I.alu64(0x00, 2, -4),
    I.call(1), I.ldx(W, 1, 0, 4), I.stx(DW, 9, 1, 8),
    I.mov64(0, 2), I.exit(),
  ], 2, { maps: [arrayMap('data', 8)] });
  assert.equal(r.error, undefined);
  assert.deepEqual(r.out, [0xfedcba9876543210n, 0x5555n]);
});

test('calls between functions: arguments, a 64-bit return, callee-saved registers, a pointer to the caller\'s stack', () => {
  /* main: r6..r9 survive; f(a, b, p) = a * b + *p, and writes 7 through p */
  const main = [
    I.ldMapValue(9, 0),
    I.ld64(6, 0x1111222233334444n),
    I.st(DW, 10, -8, 100),
    I.ld64(1, 0x100000000n), I.mov64(2, 3), I.mov64r(3, 10), I.alu64(0x00, 3, -8),
    I.callLocal(0), /* patched below */
    I.stx(DW, 9, 0, 0), I.stx(DW, 9, 6, 8), I.ldx(DW, 1, 10, -8), I.stx(DW, 9, 1, 16),
    I.mov64(0, 2), I.exit(),
  ];
  const fStart = main.reduce((s, p) => s + p.length / 8, 0);
  const callAt = 1 * 2 + 2 + 1 + 2 + 1 + 1 + 1; /* slot index of the call */
  main[7] = I.callLocal(fStart - callAt - 1);
  const f = [
    I.mov64(6, 0), I.mov64(9, 0), /* clobber callee-saved registers: the caller's are its own */
    I.alu64r(0x20, 1, 2), I.ldx(DW, 0, 3, 0), I.alu64r(0x00, 0, 1), I.st(DW, 3, 0, 7), I.exit(),
  ];
  const r = runOut([...main, ...f], 3, { funcs: [0, fStart] });
  assert.equal(r.error, undefined);
  assert.deepEqual(r.out, [0x300000064n, 0x1111222233334444n, 7n]);
});

test('calls nest up to 8 frames (MAX_CALL_FRAMES); a ninth is refused at load (E2BIG), as is recursion', () => {
  /* a chain main -> f1 -> ... -> f(n-1): each f is `call next; r0 += 1; exit`, the last `r0 = 0; exit` */
  const chain = (frames: number) => {
    const parts: Uint8Array[] = [];
    const funcs: number[] = [];
    let pc = 0;
    for (let k = 0; k < frames - 1; k++) {
      funcs.push(pc);
      parts.push(I.callLocal(2), I.alu64(0x00, 0, 1), I.exit());
      pc += 3;
    }
    funcs.push(pc);
    parts.push(I.mov64(0, 0), I.exit());
    return () => new BpfTestRun(prepareInsns(cat(...parts), { funcs }));
  };
  assert.equal(chain(8)().run('prog', { data: new Uint8Array(64) }).retval, 7);
  const tooDeep = (e: unknown, re: RegExp): boolean => e instanceof XdpsimError && e.code === 'E2BIG' && re.test(e.message);
  assert.throws(chain(9), (e) => tooDeep(e, /instruction 21 .*the call stack of 9 frames is too deep \(at most 8, MAX_CALL_FRAMES\)/));
  /* f(n): if n == 0 return 0; return f(n - 1) + 1: bounded, and still refused, as the kernel's check_max_stack_depth() refuses it */
  const main = [I.mov64(1, 3), I.callLocal(1), I.exit()];
  const f = [I.jmp(0x50, 1, 0, 2), I.mov64(0, 0), I.exit(), I.alu64(0x10, 1, 1), I.callLocal(-5), I.alu64(0x00, 0, 1), I.exit()];
  assert.throws(() => new BpfTestRun(prepareInsns(cat(...main, ...f), { funcs: [0, 3] })),
    (e) => tooDeep(e, /instruction 7 .*the call stack of 9 frames is too deep: the function at instruction 3 calls itself, directly or through others \(recursion\)/));
  /* the program's entry calling itself (the escape of both run-time limits before) */
  assert.throws(() => new BpfTestRun(prepareInsns(cat(I.mov64(0, 2), I.callLocal(-2), I.exit()), { funcs: [0] })),
    (e) => tooDeep(e, /instruction 1 .*the function at instruction 0 calls itself/));
  /* mutual recursion through a third function */
  const mut = [I.callLocal(1), I.exit(), I.callLocal(1), I.exit(), I.callLocal(-3), I.exit()];
  assert.throws(() => new BpfTestRun(prepareInsns(cat(...mut), { funcs: [0, 2, 4] })), (e) => tooDeep(e, /the function at instruction 2 calls itself/));
});
