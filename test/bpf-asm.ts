/*
 * A tiny eBPF assembler and a reference model for the bpf-* tests: build
 * instruction bytes by hand (encodings of instruction-set.rst), run them
 * with the in-thread test run (src/bpf/load.ts), and compute what the
 * kernel's interpreter would (BigInt, 64-bit two's complement), so each
 * instruction is checked against an independent model.
 */
import { encodeInsn } from '../src/bpf/insn.ts';
import { BpfTestRun, prepareInsns } from '../src/bpf/load.ts';
import type { BpfMapSpec } from '../src/bpf/object.ts';
import { BPF_MAP_TYPE_ARRAY } from '../src/shared/uapi.ts';

export const I = {
  alu64: (op: number, d: number, imm: number) => encodeInsn(0x07 | op, d, 0, 0, imm),
  alu64r: (op: number, d: number, s: number, off = 0) => encodeInsn(0x07 | 0x08 | op, d, s, off, 0),
  alu32: (op: number, d: number, imm: number) => encodeInsn(0x04 | op, d, 0, 0, imm),
  alu32r: (op: number, d: number, s: number, off = 0) => encodeInsn(0x04 | 0x08 | op, d, s, off, 0),
  /** op with offset (sdiv/smod: off 1) and an immediate */
  alu64k: (op: number, d: number, imm: number, off: number) => encodeInsn(0x07 | op, d, 0, off, imm),
  alu32k: (op: number, d: number, imm: number, off: number) => encodeInsn(0x04 | op, d, 0, off, imm),
  mov64: (d: number, imm: number) => encodeInsn(0xb7, d, 0, 0, imm),
  mov64r: (d: number, s: number) => encodeInsn(0xbf, d, s, 0, 0),
  ld64: (d: number, v: bigint): Uint8Array => {
    const u = BigInt.asUintN(64, v);
    const lo = Number(u & 0xffffffffn) | 0;
    const hi = Number(u >> 32n) | 0;
    return cat(encodeInsn(0x18, d, 0, 0, lo), encodeInsn(0, 0, 0, 0, hi));
  },
  /** ld_imm64 of map `idx` (BPF_PSEUDO_MAP_IDX) */
  ldMap: (d: number, idx: number) => cat(encodeInsn(0x18, d, 5, 0, idx), encodeInsn(0, 0, 0, 0, 0)),
  /** ld_imm64 of the address of map `idx`'s value + off (BPF_PSEUDO_MAP_IDX_VALUE) */
  ldMapValue: (d: number, idx: number, off = 0) => cat(encodeInsn(0x18, d, 6, 0, idx), encodeInsn(0, 0, 0, 0, off)),
  /** size: 0 W, 0x08 H, 0x10 B, 0x18 DW */
  ldx: (size: number, d: number, s: number, off: number) => encodeInsn(0x61 | size, d, s, off, 0),
  ldsx: (size: number, d: number, s: number, off: number) => encodeInsn(0x81 | size, d, s, off, 0),
  stx: (size: number, d: number, s: number, off: number) => encodeInsn(0x63 | size, d, s, off, 0),
  st: (size: number, d: number, off: number, imm: number) => encodeInsn(0x62 | size, d, 0, off, imm),
  atomic: (size: number, d: number, s: number, off: number, op: number) => encodeInsn(0xc3 | size, d, s, off, op),
  jmp: (op: number, d: number, imm: number, off: number) => encodeInsn(0x05 | op, d, 0, off, imm),
  jmpr: (op: number, d: number, s: number, off: number) => encodeInsn(0x05 | 0x08 | op, d, s, off, 0),
  jmp32: (op: number, d: number, imm: number, off: number) => encodeInsn(0x06 | op, d, 0, off, imm),
  jmp32r: (op: number, d: number, s: number, off: number) => encodeInsn(0x06 | 0x08 | op, d, s, off, 0),
  ja: (off: number) => encodeInsn(0x05, 0, 0, off, 0),
  gotol: (imm: number) => encodeInsn(0x06, 0, 0, 0, imm),
  /** END: ALU class (to_le: src 0, to_be: 0x08) or ALU64 (bswap) */
  end: (cls: 0x04 | 0x07, be: boolean, d: number, bits: number) => encodeInsn(cls | 0xd0 | (be ? 0x08 : 0), d, 0, 0, bits),
  call: (id: number) => encodeInsn(0x85, 0, 0, 0, id),
  callLocal: (rel: number) => encodeInsn(0x85, 0, 1, 0, rel),
  exit: () => encodeInsn(0x95, 0, 0, 0, 0),
};

export function cat(...parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An ARRAY map of one value of `valueSize` bytes, as BpfMapSpec (map index = position in the list). */
export function arrayMap(name: string, valueSize: number, extra: Partial<BpfMapSpec> = {}): BpfMapSpec {
  return { name, kernelName: name, type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize, maxEntries: 1, mapFlags: 0, kind: '.bss', ...extra };
}

/**
 * Run instructions that write 64-bit results to the 'out' map (index 0,
 * `slots` u64 values; r9 holds its address on entry: the program must
 * start with I.ldMapValue(9, 0)). Returns the retval, error and the slots.
 */
export function runOut(body: Uint8Array[], slots: number, o: { maps?: BpfMapSpec[]; data?: Uint8Array; funcs?: number[] } = {}): { retval: number; error?: string; out: bigint[]; t: BpfTestRun } {
  const maps = [arrayMap('out', slots * 8), ...(o.maps ?? [])];
  const t = new BpfTestRun(prepareInsns(cat(...body), { maps, ...(o.funcs ? { funcs: o.funcs } : {}) }));
  const r = t.run('prog', { data: o.data ?? new Uint8Array(64) });
  const v = t.maps.out!.lookup(0)!;
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out: bigint[] = [];
  for (let i = 0; i < slots; i++) out.push(dv.getBigUint64(i * 8, true));
  return { retval: r.retval, ...(r.error !== undefined ? { error: r.error } : {}), out, t };
}

/* ---------------- the reference model ---------------- */

export const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const S64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const U32 = (v: bigint): bigint => BigInt.asUintN(32, v);
const S32 = (v: bigint): bigint => BigInt.asIntN(32, v);

/** ALU result as the kernel computes it (op codes of insn.ts; signed: off 1). */
export function refAlu(op: number, a0: bigint, b0: bigint, is64: boolean, signed = false): bigint {
  if (is64) {
    const a = U64(a0), b = U64(b0);
    switch (op) {
      case 0x00: return U64(a + b);
      case 0x10: return U64(a - b);
      case 0x20: return U64(a * b);
      case 0x30: return b === 0n ? 0n : signed ? U64(S64(a) / S64(b)) : a / b;
      case 0x90: return b === 0n ? a : signed ? U64(S64(a) % S64(b)) : a % b;
      case 0x40: return a | b;
      case 0x50: return a & b;
      case 0xa0: return a ^ b;
      case 0x60: return U64(a << (b & 63n));
      case 0x70: return a >> (b & 63n);
      case 0xc0: return U64(S64(a) >> (b & 63n));
      case 0x80: return U64(-a);
      case 0xb0: return b;
    }
  } else {
    const a = U32(a0), b = U32(b0);
    switch (op) {
      case 0x00: return U32(a + b);
      case 0x10: return U32(a - b);
      case 0x20: return U32(a * b);
      case 0x30: return b === 0n ? 0n : signed ? U32(S32(a) / S32(b)) : a / b;
      case 0x90: return b === 0n ? a : signed ? U32(S32(a) % S32(b)) : a % b;
      case 0x40: return a | b;
      case 0x50: return a & b;
      case 0xa0: return a ^ b;
      case 0x60: return U32(a << (b & 31n));
      case 0x70: return a >> (b & 31n);
      case 0xc0: return U32(S32(a) >> (b & 31n));
      case 0x80: return U32(-a);
      case 0xb0: return b;
    }
  }
  throw new Error(`no reference for op 0x${op.toString(16)}`);
}

/** Jump condition as the kernel evaluates it. */
export function refJmp(op: number, a0: bigint, b0: bigint, is32: boolean): boolean {
  const u = is32 ? U32 : U64;
  const s = is32 ? S32 : S64;
  const a = u(a0), b = u(b0);
  switch (op) {
    case 0x10: return a === b;
    case 0x50: return a !== b;
    case 0x20: return a > b;
    case 0x30: return a >= b;
    case 0xa0: return a < b;
    case 0xb0: return a <= b;
    case 0x60: return s(a) > s(b);
    case 0x70: return s(a) >= s(b);
    case 0xc0: return s(a) < s(b);
    case 0xd0: return s(a) <= s(b);
    case 0x40: return (a & b) !== 0n;
  }
  throw new Error(`no reference for jump 0x${op.toString(16)}`);
}
