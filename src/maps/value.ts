/*
 * MapValue: what bpf_map_lookup_elem() returns to a program, a pointer to
 * one map value in shared memory, with the value's C layout (little endian).
 *
 * Concurrency contract: a MapValue is a per-thread view (created once per
 * entry per thread by the map and cached); the bytes it aliases are shared
 * by every thread. Plain accessors (get/set/addU64) are plain loads and
 * stores, exactly as a BPF program's loads and stores are: use them on
 * memory this CPU owns (a per-CPU value) or where a lost update is
 * acceptable. atomicAdd* are __sync_fetch_and_add (BPF_ATOMIC | BPF_ADD):
 * exact under concurrency from any number of threads. Like the kernel, an
 * atomic must be naturally aligned (off % 4 for u32, off % 8 for u64); a
 * misaligned or out-of-range offset throws (the verifier would have
 * rejected the program).
 *
 * Hash map values may be reused: see hash.ts. A program that keeps a
 * MapValue after the element was deleted or replaced may see it change,
 * as with a preallocated kernel htab element.
 */
import { EACCES, EINVAL, XdpsimError } from '../shared/errno.ts';

const TWO32 = 4294967296;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  /* Atomics on Uint32Array/BigUint64Array use host byte order; map values
   * are little endian. */
  throw new Error('xdpsim maps need a little-endian host');
}

export class MapValue {
  /** Exactly valueSize bytes, aliasing shared memory. */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Byte offset of the value in its buffer (a multiple of 8). */
  readonly byteOffset: number;
  readonly size: number;
  private readonly u32: Uint32Array;
  private readonly u64: BigUint64Array;

  /**
   * `u32` and `u64` are the map's whole-buffer views on `buffer` (shared by
   * all the values of one map on one thread), used for the atomics.
   */
  constructor(buffer: SharedArrayBuffer, byteOffset: number, size: number,
    u32: Uint32Array, u64: BigUint64Array) {
    this.bytes = new Uint8Array(buffer, byteOffset, size);
    this.view = new DataView(buffer, byteOffset, size);
    this.byteOffset = byteOffset;
    this.size = size;
    this.u32 = u32;
    this.u64 = u64;
  }

  getU8(off: number): number { return this.view.getUint8(off); }
  setU8(off: number, v: number): void { this.view.setUint8(off, v); }
  getU16(off: number): number { return this.view.getUint16(off, true); }
  setU16(off: number, v: number): void { this.view.setUint16(off, v, true); }
  getU32(off: number): number { return this.view.getUint32(off, true); }
  setU32(off: number, v: number): void { this.view.setUint32(off, v, true); }

  /** A u64 as a JS number (exact up to 2^53). Two 32-bit loads: not atomic. */
  getU64(off: number): number {
    const v = this.view;
    return v.getUint32(off + 4, true) * TWO32 + v.getUint32(off, true);
  }

  /** Store a u64 given as a non-negative JS number. Two 32-bit stores: not atomic. */
  setU64(off: number, v: number): void {
    const hi = Math.floor(v / TWO32);
    const view = this.view;
    view.setUint32(off, v - hi * TWO32, true);
    view.setUint32(off + 4, hi, true);
  }

  /** value += n on a u64, non-atomic: for per-CPU values. */
  addU64(off: number, n: number): void {
    this.setU64(off, this.getU64(off) + n);
  }

  /** __sync_fetch_and_add on a u32 (off % 4 === 0); returns the old value. */
  atomicAddU32(off: number, n: number): number {
    if ((off & 3) !== 0 || off < 0 || off + 4 > this.size) throw misaligned(off, 4, this.size);
    return Atomics.add(this.u32, (this.byteOffset + off) >>> 2, n);
  }

  /**
   * __sync_fetch_and_add on a u64 (off % 8 === 0); returns the old value as a
   * number. One 64-bit atomic RMW (lock xadd), so never torn and exact under
   * concurrency. Costs two short-lived BigInts (about 15 ns in all).
   */
  atomicAddU64(off: number, n: number): number {
    if ((off & 7) !== 0 || off < 0 || off + 8 > this.size) throw misaligned(off, 8, this.size);
    return Number(Atomics.add(this.u64, (this.byteOffset + off) >>> 3, BigInt(n)));
  }

  /** Atomic 64-bit load (READ_ONCE on a u64): never torn. */
  atomicLoadU64(off: number): number {
    if ((off & 7) !== 0 || off < 0 || off + 8 > this.size) throw misaligned(off, 8, this.size);
    return Number(Atomics.load(this.u64, (this.byteOffset + off) >>> 3));
  }
}

function misaligned(off: number, size: number, valueSize: number): XdpsimError {
  return new XdpsimError(EINVAL,
    `atomic u${size * 8} access at offset ${off} of a ${valueSize}-byte map value: ` +
    `must be ${size}-byte aligned and inside the value`);
}

/**
 * A value of a map programs may only read (BPF_F_RDONLY_PROG, as the kernel
 * sets on devmaps): a private copy, refreshed at each lookup, whose setters
 * throw as the verifier would refuse the store ("write into map forbidden").
 */
export class ReadOnlyMapValue extends MapValue {
  private readonly what: string;
  constructor(buffer: SharedArrayBuffer, byteOffset: number, size: number, u32: Uint32Array, u64: BigUint64Array, what: string) {
    super(buffer, byteOffset, size, u32, u64);
    this.what = what;
  }
  private refuse(): never {
    throw new XdpsimError(EACCES, `${this.what}: write into map forbidden (the map is read-only to programs)`);
  }
  override setU8(_off: number, _v: number): void { this.refuse(); }
  override setU16(_off: number, _v: number): void { this.refuse(); }
  override setU32(_off: number, _v: number): void { this.refuse(); }
  override setU64(_off: number, _v: number): void { this.refuse(); }
  override addU64(_off: number, _n: number): void { this.refuse(); }
  override atomicAddU32(_off: number, _n: number): number { return this.refuse(); }
  override atomicAddU64(_off: number, _n: number): number { return this.refuse(); }
}
