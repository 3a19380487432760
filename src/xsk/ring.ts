/*
 * AF_XDP rings (net/xdp/xsk_queue.h, include/uapi/linux/if_xdp.h): the
 * struct xdp_ring header and its entries in shared memory, with the user-side
 * helpers of libxdp's xsk.h (XskUserRing) and the kernel-side struct
 * xsk_queue with its caching (XskQueue).
 *
 * Layout, Int32 words from `byteOffset` (a multiple of 4) in any
 * SharedArrayBuffer; xskRingBytes(entries, kind) bytes in all:
 *   [0]   producer   (its own 64-byte line, like ____cacheline_aligned_in_smp)
 *   [16]  consumer   (its own line)
 *   [32]  flags      (XDP_RING_NEED_WAKEUP)
 *   [40]  invalid_descs       xdpsim: kernel-side counters kept in the ring so
 *   [41]  queue_empty_descs   that any thread can read them (u32, wrapping)
 *   [48 ..] entries, index & (entries - 1):
 *     kind 'addr' (fill, completion): u64 address, 2 words (low, high)
 *     kind 'desc' (RX, TX): struct xdp_desc { u64 addr; u32 len; u32 options }:
 *       4 words (addr low, addr high, len, options)
 * `entries` is a power of two >= 1 (xsk_init_queue's rule; RangeError here,
 * the socket layer returns the errno). Producer and consumer are free-running
 * u32 counters: stored in Int32 words (`| 0`), read back with `>>> 0`, and
 * all differences are taken `>>> 0`, so they wrap at 2^32 like the kernel's.
 *
 * Concurrency contract (single producer, single consumer per ring, as in the
 * kernel: for RX and completion rings the kernel produces and user space
 * consumes; for fill and TX rings user space produces and the kernel consumes):
 *   - Each side keeps cached_prod/cached_cons in its own object (per thread;
 *     never share one XskUserRing/XskQueue object between threads).
 *   - Entries are read and written with plain typed-array accesses. The only
 *     Atomics are on the producer/consumer words, once per batch:
 *     Atomics.store publishes (smp_store_release / smp_wmb + WRITE_ONCE),
 *     Atomics.load reloads (smp_load_acquire / READ_ONCE + smp_rmb). JS
 *     Atomics are sequentially consistent, which covers barriers A-D of
 *     xsk_queue.h's comment.
 *   - The producer word is written only by the producer side, the consumer
 *     word only by the consumer side; each side reads its own word plainly.
 *   - flags: set/cleared by the kernel side with Atomics.or/and, read by the
 *     user side with Atomics.load.
 *   - invalid_descs and queue_empty_descs are written with plain stores by
 *     the single kernel-side owner (the XskQueue consuming the ring) and read
 *     by other threads with Atomics.load (invalidDescsShared() etc.); a
 *     reader sees a recent value, not a snapshot consistent with the indexes.
 * Waiting is not part of the ring: a caller that sleeps uses Atomics.wait on
 * XSK_RING_PROD/XSK_RING_CONS of `words` and the other side notifies after
 * publishing (test/xsk-ring.test.ts does this).
 */

export const XSK_RING_PROD = 0;
export const XSK_RING_CONS = 16;
export const XSK_RING_FLAGS = 32;
export const XSK_RING_INVALID = 40;
export const XSK_RING_EMPTY = 41;
export const XSK_RING_HDR_WORDS = 48;

/** include/uapi/linux/if_xdp.h: flags word bit. */
export const XDP_RING_NEED_WAKEUP = 1 << 0;

export type XskRingKind = 'addr' | 'desc';

const TWO32 = 4294967296;
const ENOSPC = 28;

function wordsPerEntry(kind: XskRingKind): number {
  if (kind === 'addr') return 2;
  if (kind === 'desc') return 4;
  throw new RangeError(`xsk ring kind '${String(kind)}' must be 'addr' or 'desc'`);
}

function checkEntries(entries: number): void {
  if (!Number.isInteger(entries) || entries < 1 || entries > 0x80000000 || (entries & (entries - 1)) !== 0) {
    // 0x80000000 & 0x7fffffff is 0: the largest u32 power of two passes.
    throw new RangeError(`xsk ring entries ${entries} must be a power of two >= 1`);
  }
}

/** Bytes a ring of `entries` entries of `kind` takes (header included). */
export function xskRingBytes(entries: number, kind: XskRingKind): number {
  checkEntries(entries);
  return (XSK_RING_HDR_WORDS + entries * wordsPerEntry(kind)) * 4;
}

/**
 * A fresh ring in its own SharedArrayBuffer. `start` sets both indexes
 * (the kernel starts at 0; tests start near 2^32 to exercise wrap-around);
 * call before any side constructs its view.
 */
export function createXskRing(entries: number, kind: XskRingKind, start = 0): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(xskRingBytes(entries, kind));
  const w = new Int32Array(sab);
  w[XSK_RING_PROD] = start | 0;
  w[XSK_RING_CONS] = start | 0;
  return sab;
}

/** Shared view and entry accessors; indexes are masked internally. */
export class XskRingView {
  /** The ring's words (header + entries); Atomics.wait on XSK_RING_PROD/CONS. */
  readonly words: Int32Array;
  readonly entries: number;
  readonly mask: number;
  readonly kind: XskRingKind;
  /** Set by reserve/peek (user) and prodReserve/consPeek (kernel): first index. */
  idx = 0;
  cachedProd: number;
  cachedCons: number;

  constructor(sab: SharedArrayBuffer, byteOffset: number, entries: number, kind: XskRingKind) {
    checkEntries(entries);
    this.words = new Int32Array(sab, byteOffset, XSK_RING_HDR_WORDS + entries * wordsPerEntry(kind));
    this.entries = entries;
    this.mask = entries - 1;
    this.kind = kind;
    this.cachedProd = Atomics.load(this.words, XSK_RING_PROD) >>> 0;
    this.cachedCons = Atomics.load(this.words, XSK_RING_CONS) >>> 0;
  }

  /** u64 address of an 'addr' ring entry (exact below 2^53). */
  addr(idx: number): number {
    const i = XSK_RING_HDR_WORDS + ((idx & this.mask) << 1);
    const w = this.words;
    return (w[i]! >>> 0) + (w[i + 1]! >>> 0) * TWO32;
  }
  /** a: integer in 0..2^53. */
  setAddr(idx: number, a: number): void {
    const i = XSK_RING_HDR_WORDS + ((idx & this.mask) << 1);
    const w = this.words;
    w[i] = a | 0;
    w[i + 1] = (a / TWO32) | 0;
  }
  descAddr(idx: number): number {
    const i = XSK_RING_HDR_WORDS + ((idx & this.mask) << 2);
    const w = this.words;
    return (w[i]! >>> 0) + (w[i + 1]! >>> 0) * TWO32;
  }
  descLen(idx: number): number {
    return this.words[XSK_RING_HDR_WORDS + ((idx & this.mask) << 2) + 2]! >>> 0;
  }
  descOptions(idx: number): number {
    return this.words[XSK_RING_HDR_WORDS + ((idx & this.mask) << 2) + 3]! >>> 0;
  }
  setDesc(idx: number, addr: number, len: number, options: number): void {
    const i = XSK_RING_HDR_WORDS + ((idx & this.mask) << 2);
    const w = this.words;
    w[i] = addr | 0;
    w[i + 1] = (addr / TWO32) | 0;
    w[i + 2] = len | 0;
    w[i + 3] = options | 0;
  }

  /** Shared producer index (Atomics.load). */
  producer(): number {
    return Atomics.load(this.words, XSK_RING_PROD) >>> 0;
  }
  /** Shared consumer index (Atomics.load). */
  consumer(): number {
    return Atomics.load(this.words, XSK_RING_CONS) >>> 0;
  }
  /** Published fill level, from any thread (exact when both sides rest). */
  count(): number {
    return (this.producer() - this.consumer()) >>> 0;
  }
  /** invalid_descs, from any thread. */
  invalidDescsShared(): number {
    return Atomics.load(this.words, XSK_RING_INVALID) >>> 0;
  }
  /** queue_empty_descs, from any thread. */
  queueEmptyDescsShared(): number {
    return Atomics.load(this.words, XSK_RING_EMPTY) >>> 0;
  }
}

/**
 * User side (libxdp xsk_ring_prod / xsk_ring_cons). Use one object as either
 * a producer (fill, TX) or a consumer (RX, completion), on one thread.
 */
export class XskUserRing extends XskRingView {
  /** xsk_prod_nb_free: free slots, reloading consumer only if the cache shows fewer than nb. */
  free(nb: number): number {
    let free = (this.entries - ((this.cachedProd - this.cachedCons) >>> 0)) >>> 0;
    if (free >= nb) return free;
    this.cachedCons = Atomics.load(this.words, XSK_RING_CONS) >>> 0;
    free = (this.entries - ((this.cachedProd - this.cachedCons) >>> 0)) >>> 0;
    return free;
  }
  /** xsk_ring_prod__reserve: all or nothing; returns nb or 0, sets idx. */
  reserve(nb: number): number {
    if (this.free(nb) < nb) return 0;
    this.idx = this.cachedProd;
    this.cachedProd = (this.cachedProd + nb) >>> 0;
    return nb;
  }
  /** xsk_ring_prod__submit: publish nb more entries (store-release). */
  submit(nb: number): void {
    const w = this.words;
    Atomics.store(w, XSK_RING_PROD, (w[XSK_RING_PROD]! + nb) | 0);
  }
  /** xsk_ring_prod__needs_wakeup. */
  needsWakeup(): boolean {
    return (Atomics.load(this.words, XSK_RING_FLAGS) & XDP_RING_NEED_WAKEUP) !== 0;
  }

  /** xsk_cons_nb_avail: up to nb, reloading producer only when the cache is empty. */
  available(nb: number = this.entries): number {
    let n = (this.cachedProd - this.cachedCons) >>> 0;
    if (n === 0) {
      this.cachedProd = Atomics.load(this.words, XSK_RING_PROD) >>> 0;
      n = (this.cachedProd - this.cachedCons) >>> 0;
    }
    return n > nb ? nb : n;
  }
  /** xsk_ring_cons__peek: take up to nb entries, sets idx; returns how many. */
  peek(nb: number): number {
    const n = this.available(nb);
    if (n > 0) {
      this.idx = this.cachedCons;
      this.cachedCons = (this.cachedCons + n) >>> 0;
    }
    return n;
  }
  /** xsk_ring_cons__cancel: give back nb peeked entries (not yet released). */
  cancel(nb: number): void {
    this.cachedCons = (this.cachedCons - nb) >>> 0;
  }
  /** xsk_ring_cons__release: publish nb consumed entries (store-release). */
  release(nb: number): void {
    const w = this.words;
    Atomics.store(w, XSK_RING_CONS, (w[XSK_RING_CONS]! + nb) | 0);
  }
}

/** What the kernel consumer of a TX ring validates descriptors against (Umem). */
export interface XskDescValidator {
  validTxDesc(addr: number, len: number, options: number): boolean;
}

/**
 * Kernel side (struct xsk_queue): the consumer of fill and TX rings, the
 * producer of RX and completion rings. One owner thread per ring.
 */
export class XskQueue extends XskRingView {
  /** xskq_nb_invalid_descs (owner's view; other threads use invalidDescsShared()). */
  get invalidDescs(): number {
    return this.words[XSK_RING_INVALID]! >>> 0;
  }
  get queueEmptyDescs(): number {
    return this.words[XSK_RING_EMPTY]! >>> 0;
  }
  /** q->invalid_descs++ (also for callers that reject fill addresses: xp_check_aligned). */
  countInvalid(): void {
    this.words[XSK_RING_INVALID] = (this.words[XSK_RING_INVALID]! + 1) | 0;
  }
  /** q->queue_empty_descs++ */
  countEmpty(): void {
    this.words[XSK_RING_EMPTY] = (this.words[XSK_RING_EMPTY]! + 1) | 0;
  }

  /* ---- consumer (fill, TX) ---- */

  /** __xskq_cons_release: publish cached_cons (smp_mb + WRITE_ONCE). */
  consPublish(): void {
    Atomics.store(this.words, XSK_RING_CONS, this.cachedCons | 0);
  }
  /** __xskq_cons_peek: reload cached_prod. */
  consRefresh(): void {
    this.cachedProd = Atomics.load(this.words, XSK_RING_PROD) >>> 0;
  }
  /** xskq_cons_get_entries: publish what was consumed, then reload the producer. */
  consGetEntries(): void {
    this.consPublish();
    this.consRefresh();
  }
  /** xskq_has_descs: entries left in the cache. */
  hasDescs(): boolean {
    return this.cachedCons !== this.cachedProd;
  }
  /**
   * xskq_cons_peek_addr_unchecked / the peek half of xskq_cons_peek_desc:
   * when the cache is empty, publish the consumed entries and reload the
   * producer; true if an entry is at idx (= cached_cons). An empty queue
   * counts queue_empty_descs.
   */
  consPeek(): boolean {
    if (this.cachedProd === this.cachedCons) this.consGetEntries();
    if (this.cachedProd === this.cachedCons) {
      this.countEmpty();
      return false;
    }
    this.idx = this.cachedCons;
    return true;
  }
  /**
   * xskq_cons_peek_desc (TX): consPeek, then xskq_cons_is_valid_desc on the
   * entry at idx; an invalid descriptor counts invalid_descs and returns
   * false with hasDescs() still true (the caller releases it, as
   * xsk_generic_xmit does).
   */
  consPeekDesc(v: XskDescValidator): boolean {
    if (!this.consPeek()) return false;
    const i = this.cachedCons;
    if (!v.validTxDesc(this.descAddr(i), this.descLen(i), this.descOptions(i))) {
      this.countInvalid();
      return false;
    }
    return true;
  }
  /** xskq_cons_nb_entries: up to max, reloading the producer if the cache has fewer (no publish). */
  consNbEntries(max: number): number {
    let n = (this.cachedProd - this.cachedCons) >>> 0;
    if (n >= max) return max;
    this.consRefresh();
    n = (this.cachedProd - this.cachedCons) >>> 0;
    return n > max ? max : n;
  }
  /** xskq_cons_has_entries */
  consHasEntries(cnt: number): boolean {
    return this.consNbEntries(cnt) === cnt;
  }
  /** xskq_cons_release / xskq_cons_release_n: local only; published at the next consGetEntries/consPublish. */
  consRelease(n = 1): void {
    this.cachedCons = (this.cachedCons + n) >>> 0;
  }
  /** xskq_cons_cancel_n */
  consCancel(n: number): void {
    this.cachedCons = (this.cachedCons - n) >>> 0;
  }

  /* ---- producer (RX, completion) ---- */

  /** xskq_prod_nb_free: up to max free slots, reloading the consumer if the cache has fewer. */
  prodNbFree(max: number): number {
    let free = (this.entries - ((this.cachedProd - this.cachedCons) >>> 0)) >>> 0;
    if (free >= max) return max;
    this.cachedCons = Atomics.load(this.words, XSK_RING_CONS) >>> 0;
    free = (this.entries - ((this.cachedProd - this.cachedCons) >>> 0)) >>> 0;
    return free > max ? max : free;
  }
  /** xskq_prod_is_full */
  prodIsFull(): boolean {
    return this.prodNbFree(1) === 0;
  }
  /** xskq_prod_reserve for n slots, all or nothing: 0 (idx = first) or -ENOSPC. */
  prodReserve(n = 1): number {
    if (this.prodNbFree(n) < n) return -ENOSPC;
    this.idx = this.cachedProd;
    this.cachedProd = (this.cachedProd + n) >>> 0;
    return 0;
  }
  /** xskq_prod_reserve_addr (completion ring). */
  prodReserveAddr(addr: number): number {
    if (this.prodIsFull()) return -ENOSPC;
    this.setAddr(this.cachedProd, addr);
    this.idx = this.cachedProd;
    this.cachedProd = (this.cachedProd + 1) >>> 0;
    return 0;
  }
  /** xskq_prod_reserve_desc (RX ring). */
  prodReserveDesc(addr: number, len: number, options: number): number {
    if (this.prodIsFull()) return -ENOSPC;
    this.setDesc(this.cachedProd, addr, len, options);
    this.idx = this.cachedProd;
    this.cachedProd = (this.cachedProd + 1) >>> 0;
    return 0;
  }
  /** xskq_prod_cancel_n */
  prodCancel(n: number): void {
    this.cachedProd = (this.cachedProd - n) >>> 0;
  }
  /** xskq_prod_submit: publish cached_prod (smp_wmb + WRITE_ONCE). */
  prodSubmit(): void {
    Atomics.store(this.words, XSK_RING_PROD, this.cachedProd | 0);
  }
  /** xskq_prod_submit_n: publish producer + n (entries reserved earlier, completed in order). */
  prodSubmitN(n: number): void {
    const w = this.words;
    Atomics.store(w, XSK_RING_PROD, (w[XSK_RING_PROD]! + n) | 0);
  }
  /** xskq_prod_is_empty: nothing published is left for user space (poll EPOLLIN). */
  prodIsEmpty(): boolean {
    return Atomics.load(this.words, XSK_RING_CONS) === Atomics.load(this.words, XSK_RING_PROD);
  }
  /** xskq_cons_is_full: the user producer filled the ring. */
  consIsFull(): boolean {
    return ((this.producer() - this.consumer()) >>> 0) === this.entries;
  }

  /* ---- flags (need_wakeup) ---- */
  setNeedWakeup(): void {
    Atomics.or(this.words, XSK_RING_FLAGS, XDP_RING_NEED_WAKEUP);
  }
  clearNeedWakeup(): void {
    Atomics.and(this.words, XSK_RING_FLAGS, ~XDP_RING_NEED_WAKEUP);
  }
}
