/*
 * Descriptor rings in shared memory: 32-bit descriptors (frame indexes, or
 * record slots) moving between threads.
 *
 * Layout of both kinds: an Int32Array over its own SharedArrayBuffer,
 *   [0] producer index  [1] consumer index  [2] producer lock (MpscRing)
 *   [3] the consumer index as the producers last read it (MpscRing)  [4..15] unused
 *   [16 .. 16+size)     slots
 * Indexes are free-running int32 counters; `(prod - cons) | 0` is the fill
 * level, slot = index & mask, size a power of two.
 *
 * SpscRing: one producer thread, one consumer thread. The producer writes
 * slots with plain stores and publishes a whole batch with one Atomics.store
 * of the producer index; the consumer reads the producer index with one
 * Atomics.load per batch and releases slots with one Atomics.store of the
 * consumer index. Per descriptor: plain access only (NODE-NOTES: Atomics cost
 * ~8 ns, plain 0.5-0.8 ns).
 *
 * MpscRing: any number of producers (threads), one consumer, like the
 * kernel's ptr_ring with its producer_lock: a producer takes the lock word
 * [2] once per batch (compare-and-exchange), writes its descriptors with
 * plain stores and publishes them with one Atomics.store of the producer
 * index; the consumer works as on an SpscRing. Per descriptor: plain access
 * only, on both sides.
 */

export const RING_HDR = 16;
const PROD = 0;
const CONS = 1;
const LOCK = 2;
const CONS_SEEN = 3;

export function ringBytes(size: number): number {
  return (RING_HDR + size) * 4;
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0 || size > (1 << 24)) {
    throw new RangeError(`ring size ${size} must be a power of two in 2..2^24`);
  }
}

export function createRingBuffer(size: number, mpsc: boolean): SharedArrayBuffer {
  checkSize(size);
  const sab = new SharedArrayBuffer(ringBytes(size));
  if (mpsc) new Int32Array(sab).fill(-1, RING_HDR);
  return sab;
}

abstract class RingBase {
  readonly a: Int32Array;
  readonly size: number;
  readonly mask: number;
  constructor(sab: SharedArrayBuffer, byteOffset = 0, size?: number) {
    const n = size ?? (sab.byteLength - byteOffset) / 4 - RING_HDR;
    checkSize(n);
    this.a = new Int32Array(sab, byteOffset, RING_HDR + n);
    this.size = n;
    this.mask = n - 1;
  }
  /** Fill level; exact when both sides are at rest. */
  count(): number {
    return (Atomics.load(this.a, PROD) - Atomics.load(this.a, CONS)) | 0;
  }
  empty(): boolean {
    return this.count() === 0;
  }
}

export class SpscRing extends RingBase {
  /** Producer side: copy up to n descriptors from src[0..n); returns how many fit. */
  produce(src: Int32Array, n: number): number {
    const a = this.a;
    const p = a[PROD]!; // only this thread writes PROD
    const free = this.size - ((p - Atomics.load(a, CONS)) | 0);
    const k = n < free ? n : free;
    const mask = this.mask;
    for (let i = 0; i < k; i++) a[RING_HDR + ((p + i) & mask)] = src[i]!;
    if (k > 0) Atomics.store(a, PROD, (p + k) | 0);
    return k;
  }
  /** Producer side: reserve one slot index (into `a`) without publishing, or -1 if full. */
  reserveSlot(ahead: number): number {
    const a = this.a;
    const p = (a[PROD]! + ahead) | 0;
    if (((p - Atomics.load(a, CONS)) | 0) >= this.size) return -1;
    return p & this.mask;
  }
  /** Producer side: publish `k` slots written after reserveSlot(). */
  publish(k: number): void {
    Atomics.store(this.a, PROD, (this.a[PROD]! + k) | 0);
  }
  /** Consumer side: copy up to max descriptors into dst; returns how many. */
  consume(dst: Int32Array, max: number): number {
    const a = this.a;
    const c = a[CONS]!; // only this thread writes CONS
    const avail = (Atomics.load(a, PROD) - c) | 0;
    const k = avail < max ? avail : max;
    const mask = this.mask;
    for (let i = 0; i < k; i++) dst[i] = a[RING_HDR + ((c + i) & mask)]!;
    if (k > 0) Atomics.store(a, CONS, (c + k) | 0);
    return k;
  }
  /** Consumer side: number available and the slot of the first one (peek API for record rings). */
  available(): number {
    return (Atomics.load(this.a, PROD) - this.a[CONS]!) | 0;
  }
  firstSlot(): number {
    return this.a[CONS]! & this.mask;
  }
  release(k: number): void {
    Atomics.store(this.a, CONS, (this.a[CONS]! + k) | 0);
  }
}

/*
 * A ring's producer lock (ptr_ring's producer_lock) in word i of a: taken
 * once per batch with a compare-and-exchange; a producer that finds it held
 * spins, and after a while waits a few microseconds at a time (the holder
 * only copies a batch). producerUnlock() releases it.
 */
export function producerLock(a: Int32Array, i: number): void {
  if (Atomics.compareExchange(a, i, 0, 1) === 0) return;
  for (let spins = 0; ; spins++) {
    if (a[i] === 0 && Atomics.compareExchange(a, i, 0, 1) === 0) return;
    if (spins > 256) Atomics.wait(a, i, 1, 0.01);
  }
}
export function producerUnlock(a: Int32Array, i: number): void {
  Atomics.store(a, i, 0);
}

export class MpscRing extends RingBase {
  /**
   * Any thread: enqueue up to n descriptors from src[from..from+n); returns how
   * many were taken (a full ring takes fewer: a partial send).
   */
  produce(src: Int32Array, from: number, n: number): number {
    const a = this.a;
    producerLock(a, LOCK);
    const p = a[PROD]!; /* only lock holders write PROD */
    /*
     * The consumer index as the producers last read it ([3], read and
     * written only under the lock, reset with the ring): the consumer
     * index only grows, so it is a safe bound while it leaves room, and it
     * is read again when it does not. Any producer refreshes it at least
     * once per ring's worth of frames, so it is never far enough behind to
     * wrap.
     */
    let seen = a[CONS_SEEN]!;
    let free = this.size - ((p - seen) | 0);
    if (free < n) {
      seen = Atomics.load(a, CONS);
      a[CONS_SEEN] = seen;
      free = this.size - ((p - seen) | 0);
    }
    const k = n < free ? n : free;
    const mask = this.mask;
    for (let i = 0; i < k; i++) a[RING_HDR + ((p + i) & mask)] = src[from + i]!;
    if (k > 0) Atomics.store(a, PROD, (p + k) | 0);
    producerUnlock(a, LOCK);
    return k;
  }
  produceOne(desc: number): boolean {
    this.one[0] = desc;
    return this.produce(this.one, 0, 1) === 1;
  }
  private readonly one = new Int32Array(1);

  /** The single consumer: dequeue up to max descriptors into dst[off..); returns how many. */
  consume(dst: Int32Array, max: number, off = 0): number {
    const a = this.a;
    const c = a[CONS]!; // only this thread writes CONS
    const avail = (Atomics.load(a, PROD) - c) | 0;
    const k = avail < max ? avail : max;
    const mask = this.mask;
    for (let i = 0; i < k; i++) dst[off + i] = a[RING_HDR + ((c + i) & mask)]!;
    if (k > 0) Atomics.store(a, CONS, (c + k) | 0);
    return k;
  }
  /** Consumer-side check for work without dequeuing. */
  hasWork(): boolean {
    return Atomics.load(this.a, PROD) !== this.a[CONS];
  }
}
