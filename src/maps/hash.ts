/*
 * BPF_MAP_TYPE_HASH and BPF_MAP_TYPE_PERCPU_HASH (kernel/bpf/hashtab.c), as
 * the kernel's default preallocated htab: every element exists from
 * creation in a slab and moves between a shared free list and the buckets.
 *
 * Layout (shared.buffers):
 *  [0] ctl, Int32: C_SEED, C_FREE_HEAD/C_FREE_LOCK (the free list),
 *      C_COUNT (elements in the table), then C_EXTRA + s for s in 0..ncpus:
 *      the per-CPU spare element of HASH (slot ncpus is user space's).
 *  [1] buckets, Int32 pairs [head, lock], n_buckets = roundup_pow_of_two(
 *      max_entries). A chain ends in a "nulls" marker ~bucket (negative), as
 *      the kernel's hlist_nulls does.
 *  [2] elements: [next, hash, free-list link, 0] + key (round_up(key_size, 8))
 *      + value (round_up(value_size, 8), HASH only). HASH has max_entries +
 *      ncpus + 1 elements (the spares), PERCPU_HASH max_entries.
 *  [3] PERCPU_HASH only: the values, CPU c's copy of element e at
 *      (c * n_elems + e) * round_up(value_size, 8).
 *
 * Concurrency contract:
 *  - update and delete, from any thread, take the bucket's lock (a futex
 *    style word taken with Atomics.compareExchange, see common.ts) and,
 *    inside it, the free-list lock. Critical sections are a few dozen
 *    loads and stores and call nothing outside this file. (They throw only
 *    on a chain that does not end, a corrupt table, after unlocking.)
 *  - lookups and get_next_key take no lock: they walk the chain with
 *    Atomics.load on the links. An element unlinked during the walk keeps
 *    its next link, so the walk goes on; if it was already reused in
 *    another bucket, the walk ends at another bucket's nulls marker and
 *    starts over (lookup_nulls_elem_raw). A walk that never ends (a cycle:
 *    a bug) throws instead of hanging the thread.
 *  - HASH update of an existing key writes a new element (this CPU's spare),
 *    links it before the old one, then unlinks the old one, which becomes
 *    this CPU's spare: a concurrent lookup sees the old value or the new
 *    one, never a mix. PERCPU_HASH updates values in place under the lock.
 *  - a deleted element goes back on the free list at once and may be reused
 *    by the next insert on any CPU, as a preallocated kernel element is
 *    (there is no RCU grace period before reuse). A program that holds a
 *    MapValue of a deleted or replaced element may therefore see it change
 *    under it, exactly as in the kernel.
 *  - the spare of CPU c is only touched by CPU c (under a bucket lock): each
 *    worker must pass its own cpu. User space uses its own spare.
 *  - a lock whose holder died (a worker terminated mid-update) is given up
 *    after LOCK_TIMEOUT_MS: the operation returns -EBUSY.
 */
import { randomBytes } from 'node:crypto';
import { E2BIG, EACCES, EBUSY, EEXIST, EFAULT, EINVAL, ENOENT, EPERM } from '../shared/errno.ts';
import {
  BPF_EXIST, BPF_F_ACCESS_MASK, BPF_F_LOCK, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE,
  BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_F_ZERO_SEED, BPF_MAP_TYPE_PERCPU_HASH, BPF_NOEXIST,
} from '../shared/uapi.ts';
import {
  HTAB_ELEM_STRUCT_SIZE, KMALLOC_MAX_SIZE, MapBase, PCPU_MIN_UNIT_SIZE, ValueCache, allocShared, checkSize, copyBytes,
  lockableFlagsOk, mapShared, plainFlagsOk, roundUp8, spinLock, spinUnlock,
} from './common.ts';
import { HASH_MASK, jhashBytes, jhashWord, jhashWords } from './jhash.ts';
import type { BpfMap, MapKey, MapShared, MapSpecChecked } from './map.ts';
import { MapValue } from './value.ts';

const HTAB_CREATE_FLAG_MASK = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE |
  BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED;
/* sizeof(struct bucket) on x86_64: n_buckets * it must fit a u32 */
const BUCKET_STRUCT_SIZE = 16;

/* ctl words */
const C_SEED = 0;
const C_FREE_HEAD = 1;
const C_FREE_LOCK = 2;
const C_COUNT = 3;
const C_NBUCKETS = 4;
const C_NELEMS = 5;
const C_EXTRA = 8;

/* element header words */
const E_NEXT = 0;
const E_HASH = 1;
const E_FLINK = 2;
const HDR = 16;

/* freePop() when the free-list lock could not be had */
const POP_BUSY = -2;
/*
 * lockFind(): the key is not in the bucket (and the lock is held). The
 * errnos lockFind() returns (EBUSY, EEXIST, ENOENT) are all above 1, so an
 * error is always below NONE.
 */
const NONE = -1;

/** htab_map_alloc_check(): throws through `fail` with the kernel's errno. */
export function htabAllocCheck(attr: MapSpecChecked, fail: (errno: number, msg: string) => never): void {
  const percpu = attr.type === BPF_MAP_TYPE_PERCPU_HASH;
  const tname = percpu ? 'BPF_MAP_TYPE_PERCPU_HASH' : 'BPF_MAP_TYPE_HASH';
  const flags = attr.mapFlags;
  /* BPF_F_ZERO_SEED needs CAP_SYS_ADMIN (else EPERM): xdpsim's user space has it */
  const unknown = (flags & ~HTAB_CREATE_FLAG_MASK) >>> 0;
  if (unknown) fail(EINVAL, `map_flags 0x${flags.toString(16)}: bits 0x${unknown.toString(16)} are not accepted by ${tname}`);
  if ((flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) === (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) {
    fail(EINVAL, 'map_flags: BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together');
  }
  if (flags & BPF_F_NO_COMMON_LRU) fail(EINVAL, `map_flags: BPF_F_NO_COMMON_LRU is only for the LRU hash types`);
  if (percpu && (flags & BPF_F_NUMA_NODE)) fail(EINVAL, `map_flags: BPF_F_NUMA_NODE is meaningless for ${tname}`);
  if (attr.maxEntries === 0) fail(EINVAL, `max_entries 0: ${tname} needs max_entries > 0`);
  if (attr.keySize === 0) fail(EINVAL, `key_size 0: ${tname} needs key_size > 0`);
  if (attr.valueSize === 0) fail(EINVAL, `value_size 0: ${tname} needs value_size > 0`);
  if (attr.keySize + attr.valueSize >= KMALLOC_MAX_SIZE - HTAB_ELEM_STRUCT_SIZE) {
    fail(E2BIG, `key_size ${attr.keySize} + value_size ${attr.valueSize} must be below KMALLOC_MAX_SIZE - ` +
      `sizeof(struct htab_elem) = ${KMALLOC_MAX_SIZE - HTAB_ELEM_STRUCT_SIZE}`);
  }
  if (percpu && roundUp8(attr.valueSize) > PCPU_MIN_UNIT_SIZE) {
    fail(E2BIG, `value_size ${attr.valueSize}: a per-CPU value is limited to PCPU_MIN_UNIT_SIZE (${PCPU_MIN_UNIT_SIZE}) bytes`);
  }
}

function roundupPowOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** htab_map_alloc() + prealloc_init(): buckets, element slab, free list, spares. */
export function htabAlloc(attr: MapSpecChecked, id: number, ncpus: number,
  fail: (errno: number, msg: string) => never): MapShared {
  const percpu = attr.type === BPF_MAP_TYPE_PERCPU_HASH;
  if (attr.maxEntries > 2 ** 31) fail(E2BIG, `max_entries ${attr.maxEntries} > 2^31`);
  const nBuckets = roundupPowOfTwo(attr.maxEntries);
  if (nBuckets > Math.floor(0xffffffff / BUCKET_STRUCT_SIZE)) {
    fail(E2BIG, `max_entries ${attr.maxEntries}: ${nBuckets} buckets overflow a u32 allocation`);
  }
  const keyArea = roundUp8(attr.keySize);
  const valArea = roundUp8(attr.valueSize);
  const elemSize = HDR + keyArea + (percpu ? 0 : valArea);
  const nSpare = percpu ? 0 : ncpus + 1;
  const nElems = attr.maxEntries + nSpare;

  const sizes: [number, string][] = [
    [(C_EXTRA + ncpus + 1) * 4, 'hash control words'],
    [nBuckets * 8, `${nBuckets} buckets`],
    [nElems * elemSize, `${nElems} elements of ${elemSize} bytes`],
  ];
  if (percpu) sizes.push([nElems * valArea * ncpus, `${nElems} values on each of ${ncpus} CPUs`]);
  for (const [bytes, what] of sizes) checkSize(bytes, what, fail); /* all or nothing */
  const buffers = sizes.map(([bytes, what]) => allocShared(bytes, what, fail));
  const [ctlBuf, bktBuf, elemBuf] = buffers as [SharedArrayBuffer, SharedArrayBuffer, SharedArrayBuffer];

  /* not shared with anyone yet: plain stores */
  const ctl = new Int32Array(ctlBuf);
  ctl[C_SEED] = (attr.mapFlags & BPF_F_ZERO_SEED) ? 0 : randomBytes(4).readInt32LE(0) & HASH_MASK;
  ctl[C_NBUCKETS] = nBuckets;
  ctl[C_NELEMS] = nElems;
  const bkt = new Int32Array(bktBuf);
  for (let b = 0; b < nBuckets; b++) bkt[2 * b] = ~b;
  const e32 = new Int32Array(elemBuf);
  const ew = elemSize >>> 2;
  for (let e = 0; e < nElems; e++) e32[e * ew + E_NEXT] = -1;
  /* free list: elements 0..max_entries-1, popped in that order */
  for (let e = 0; e < attr.maxEntries; e++) e32[e * ew + E_FLINK] = e + 1 < attr.maxEntries ? e + 1 : -1;
  ctl[C_FREE_HEAD] = 0;
  /* alloc_extra_elems(): one spare per CPU, and one for user space */
  for (let s = 0; s < nSpare; s++) ctl[C_EXTRA + s] = attr.maxEntries + s;

  return mapShared(attr, id, ncpus, buffers);
}

export class HashMap extends MapBase implements BpfMap {
  private readonly percpu: boolean;
  private readonly ctl: Int32Array;
  private readonly bkt: Int32Array;
  private readonly ebuf: SharedArrayBuffer;
  private readonly e8: Uint8Array;
  private readonly e32: Int32Array;
  private readonly eU32: Uint32Array;
  private readonly e64: BigUint64Array;
  /* PERCPU_HASH values (else the element buffer again, unused) */
  private readonly pbuf: SharedArrayBuffer;
  private readonly p8: Uint8Array;
  private readonly pU32: Uint32Array;
  private readonly p64: BigUint64Array;
  private readonly seed: number;
  private readonly mask: number;
  private readonly nBuckets: number;
  private readonly nElems: number;
  private readonly elemSize: number;
  private readonly ew: number;
  private readonly valOff: number;
  private readonly pvSize: number;
  private readonly wordKey: boolean;
  private readonly cache: ValueCache;
  /*
   * No chain is longer than the slab, and a restarted walk almost never
   * restarts twice; a walk far longer than that means a cycle: a bug, which
   * must not hang the thread (the kernel would hang too, or worse).
   */
  private readonly walkLimit: number;

  constructor(shared: MapShared) {
    super(shared);
    this.percpu = shared.type === BPF_MAP_TYPE_PERCPU_HASH;
    this.ctl = new Int32Array(shared.buffers[0]!);
    this.bkt = new Int32Array(shared.buffers[1]!);
    this.ebuf = shared.buffers[2]!;
    this.e8 = new Uint8Array(this.ebuf);
    this.e32 = new Int32Array(this.ebuf);
    this.eU32 = new Uint32Array(this.ebuf);
    this.e64 = new BigUint64Array(this.ebuf);
    this.pbuf = this.percpu ? shared.buffers[3]! : this.ebuf;
    this.p8 = new Uint8Array(this.pbuf);
    this.pU32 = new Uint32Array(this.pbuf);
    this.p64 = new BigUint64Array(this.pbuf);
    this.seed = this.ctl[C_SEED]! & HASH_MASK;
    this.nBuckets = this.ctl[C_NBUCKETS]!;
    this.mask = this.nBuckets - 1;
    this.nElems = this.ctl[C_NELEMS]!;
    this.valOff = HDR + roundUp8(shared.keySize);
    this.pvSize = roundUp8(shared.valueSize);
    this.elemSize = this.valOff + (this.percpu ? 0 : this.pvSize);
    this.ew = this.elemSize >>> 2;
    this.wordKey = (shared.keySize & 3) === 0;
    this.cache = new ValueCache(this.nElems * (this.percpu ? shared.ncpus : 1));
    this.walkLimit = this.nElems * 64 + 1024;
  }

  get sysValueSize(): number {
    return this.percpu ? this.pvSize * this.ncpus : this.valueSize;
  }

  /** Elements in the table now (a snapshot). */
  elemCount(): number {
    return Atomics.load(this.ctl, C_COUNT);
  }

  /* ---- keys and the chain ---- */

  private keyOk(key: MapKey): boolean {
    if (typeof key === 'number') return this.keySize === 4 && (key >>> 0) === key;
    return key instanceof Uint8Array && key.length === this.keySize;
  }

  /** htab_map_hash(); the key is valid. */
  private hash(key: MapKey): number {
    if (typeof key === 'number') return jhashWord(key, this.seed);
    return this.wordKey ? jhashWords(key, this.keySize, this.seed) : jhashBytes(key, this.keySize, this.seed);
  }

  private keyEq(e: number, key: MapKey): boolean {
    const off = e * this.elemSize + HDR;
    if (typeof key === 'number') return this.eU32[off >>> 2] === key;
    const e8 = this.e8;
    for (let i = 0; i < this.keySize; i++) if (e8[off + i] !== key[i]) return false;
    return true;
  }

  /** lookup_nulls_elem_raw(): lock-free; the element's index or -1. */
  private find(key: MapKey, h: number): number {
    const b = h & this.mask;
    const hs = h | 0;
    const e32 = this.e32;
    const ew = this.ew;
    let steps = 0;
    for (;;) {
      let n = Atomics.load(this.bkt, 2 * b);
      while (n >= 0) {
        if (e32[n * ew + E_HASH] === hs && this.keyEq(n, key)) return n;
        n = Atomics.load(e32, n * ew + E_NEXT);
        if (++steps > this.walkLimit) throw this.corrupt(b);
      }
      if (n === ~b) return -1;
      /* the element we stood on moved to another bucket: walk again */
      if (++steps > this.walkLimit) throw this.corrupt(b);
    }
  }

  private corrupt(b: number): Error {
    return new Error(`map '${this.name}' (id ${this.id}): hash chain of bucket ${b} does not end: the table is corrupt`);
  }

  /** lookup_elem_raw(): with the bucket lock held. */
  private findLocked(b: number, key: MapKey, h: number): number {
    const hs = h | 0;
    const e32 = this.e32;
    const ew = this.ew;
    let n = this.bkt[2 * b]!;
    let steps = 0;
    while (n >= 0) {
      if (e32[n * ew + E_HASH] === hs && this.keyEq(n, key)) return n;
      n = e32[n * ew + E_NEXT]!;
      if (++steps > this.nElems) throw this.corruptLocked(b);
    }
    return -1;
  }

  /**
   * htab_lock_bucket() + lookup_elem_raw() + check_flags(), the start of
   * every update and delete: with bucket b's lock held, the element of
   * `key` (>= 0) or NONE; or, with the lock not held, -EBUSY (it could not
   * be had), -EEXIST (the key is there and flags is BPF_NOEXIST) or -ENOENT
   * (it is not and flags is BPF_EXIST).
   */
  private lockFind(b: number, key: MapKey, h: number, flags: number): number {
    if (!spinLock(this.bkt, 2 * b + 1)) return -EBUSY;
    const old = this.findLocked(b, key, h);
    if (old >= 0 ? flags === BPF_NOEXIST : flags === BPF_EXIST) {
      spinUnlock(this.bkt, 2 * b + 1);
      return old >= 0 ? -EEXIST : -ENOENT;
    }
    return old;
  }

  /** hlist_nulls_del_rcu() with the bucket lock held: x keeps its own next link. */
  private unlinkLocked(b: number, x: number): void {
    const e32 = this.e32;
    const ew = this.ew;
    const next = e32[x * ew + E_NEXT]!;
    let n = this.bkt[2 * b]!;
    if (n === x) {
      Atomics.store(this.bkt, 2 * b, next);
      return;
    }
    let steps = 0;
    while (n >= 0) {
      const nn = e32[n * ew + E_NEXT]!;
      if (nn === x) {
        Atomics.store(e32, n * ew + E_NEXT, next);
        return;
      }
      n = nn;
      if (++steps > this.nElems) break;
    }
    throw this.corruptLocked(b);
  }

  /* a corrupt chain found with the bucket lock held: release it first */
  private corruptLocked(b: number): Error {
    spinUnlock(this.bkt, 2 * b + 1);
    return this.corrupt(b);
  }

  /** hlist_nulls_add_head_rcu() with the bucket lock held: key, hash and value are written. */
  private linkHeadLocked(b: number, e: number): void {
    Atomics.store(this.e32, e * this.ew + E_NEXT, this.bkt[2 * b]!);
    Atomics.store(this.bkt, 2 * b, e);
  }

  private writeKey(e: number, key: MapKey, h: number): void {
    const base = e * this.elemSize;
    this.e32[(base >>> 2) + E_HASH] = h | 0;
    if (typeof key === 'number') this.eU32[(base + HDR) >>> 2] = key;
    else this.e8.set(key, base + HDR);
  }

  private copyKeyOut(e: number, out: Uint8Array): void {
    const off = e * this.elemSize + HDR;
    out.set(this.e8.subarray(off, off + this.keySize), 0);
  }

  /* ---- free list (pcpu_freelist, as one shared list) ---- */

  private freePop(): number {
    const ctl = this.ctl;
    if (!spinLock(ctl, C_FREE_LOCK)) return POP_BUSY;
    const e = ctl[C_FREE_HEAD]!;
    if (e >= 0) ctl[C_FREE_HEAD] = this.e32[e * this.ew + E_FLINK]!;
    spinUnlock(ctl, C_FREE_LOCK);
    return e;
  }

  private freePush(e: number): void {
    const ctl = this.ctl;
    /* a dead free-list lock leaks the element rather than hang */
    if (!spinLock(ctl, C_FREE_LOCK)) return;
    this.e32[e * this.ew + E_FLINK] = ctl[C_FREE_HEAD]!;
    ctl[C_FREE_HEAD] = e;
    spinUnlock(ctl, C_FREE_LOCK);
  }

  /* ---- values ---- */

  private value(e: number, cpu: number): MapValue {
    const slot = this.percpu ? cpu * this.nElems + e : e;
    let v = this.cache.get(slot);
    if (v === null) {
      v = this.percpu
        ? new MapValue(this.pbuf, slot * this.pvSize, this.valueSize, this.pU32, this.p64)
        : new MapValue(this.ebuf, e * this.elemSize + this.valOff, this.valueSize, this.eU32, this.e64);
      this.cache.set(slot, v);
    }
    return v;
  }

  /* ---- the updates, shared by programs and bpf(2) ---- */

  /**
   * htab_map_update_elem() for HASH: flags are BPF_ANY/NOEXIST/EXIST, key
   * and value are valid, `spare` is the caller's spare slot.
   */
  private htabUpdate(key: MapKey, value: Uint8Array, flags: number, spare: number): number {
    const h = this.hash(key);
    const b = h & this.mask;
    const old = this.lockFind(b, key, h, flags);
    if (old < NONE) return old;
    const bkt = this.bkt;
    let e: number;
    if (old >= 0) {
      /* replace: use this CPU's spare, the old element becomes the spare */
      e = this.ctl[C_EXTRA + spare]!;
      this.ctl[C_EXTRA + spare] = old;
    } else {
      e = this.freePop();
      if (e < 0) {
        spinUnlock(bkt, 2 * b + 1);
        return e === POP_BUSY ? -EBUSY : -E2BIG; /* all preallocated elements are in use */
      }
      Atomics.add(this.ctl, C_COUNT, 1);
    }
    this.writeKey(e, key, h);
    copyBytes(this.e8, e * this.elemSize + this.valOff, value, 0, this.valueSize);
    /* new element first, so that a concurrent search finds it before the old one */
    this.linkHeadLocked(b, e);
    if (old >= 0) this.unlinkLocked(b, old);
    spinUnlock(bkt, 2 * b + 1);
    return 0;
  }

  /**
   * __htab_percpu_map_update_elem(): in place if the key exists. From a
   * program (onAllCpus false) `value` is value_size bytes for `cpu`; from
   * bpf(2) it is ncpus * round_up(value_size, 8) bytes, one per CPU.
   */
  private pcpuUpdate(key: MapKey, value: Uint8Array, flags: number, cpu: number, onAllCpus: boolean): number {
    const h = this.hash(key);
    const b = h & this.mask;
    const old = this.lockFind(b, key, h, flags);
    if (old < NONE) return old;
    const bkt = this.bkt;
    const pv = this.pvSize;
    const p8 = this.p8;
    if (old >= 0) {
      /* pcpu_copy_value() */
      if (onAllCpus) {
        for (let c = 0; c < this.ncpus; c++) copyBytes(p8, (c * this.nElems + old) * pv, value, c * pv, pv);
      } else {
        copyBytes(p8, (cpu * this.nElems + old) * pv, value, 0, this.valueSize);
      }
      spinUnlock(bkt, 2 * b + 1);
      return 0;
    }
    const e = this.freePop();
    if (e < 0) {
      spinUnlock(bkt, 2 * b + 1);
      return e === POP_BUSY ? -EBUSY : -E2BIG;
    }
    Atomics.add(this.ctl, C_COUNT, 1);
    this.writeKey(e, key, h);
    /* pcpu_init_value(): from a program, the other CPUs' copies start at zero */
    for (let c = 0; c < this.ncpus; c++) {
      const off = (c * this.nElems + e) * pv;
      if (onAllCpus) {
        copyBytes(p8, off, value, c * pv, pv);
      } else if (c === cpu) {
        copyBytes(p8, off, value, 0, this.valueSize);
        p8.fill(0, off + this.valueSize, off + pv);
      } else {
        p8.fill(0, off, off + pv);
      }
    }
    this.linkHeadLocked(b, e);
    spinUnlock(bkt, 2 * b + 1);
    return 0;
  }

  /** htab_map_delete_elem(): the element goes back on the free list at once. */
  private htabDelete(key: MapKey): number {
    const h = this.hash(key);
    const b = h & this.mask;
    /* BPF_EXIST: a key that is not there is -ENOENT, as in htab_map_delete_elem() */
    const e = this.lockFind(b, key, h, BPF_EXIST);
    if (e < 0) return e;
    this.unlinkLocked(b, e);
    spinUnlock(this.bkt, 2 * b + 1);
    Atomics.sub(this.ctl, C_COUNT, 1);
    this.freePush(e);
    return 0;
  }

  /* ---- data path ---- */

  /** htab_map_lookup_elem / htab_percpu_map_lookup_elem */
  lookupElem(key: MapKey, cpu: number): MapValue | null {
    if (!this.keyOk(key)) throw this.badKey('lookup', key);
    if (this.percpu && !this.cpuOk(cpu)) throw this.badCpu('lookup', cpu);
    const e = this.find(key, this.hash(key));
    return e < 0 ? null : this.value(e, cpu);
  }

  /** bpf_map_lookup_percpu_elem: another CPU's copy (null if cpu >= ncpus, like nr_cpu_ids). */
  lookupPercpuElem(key: MapKey, cpu: number): MapValue | null {
    if (!this.percpu) return null;
    if (!this.keyOk(key)) throw this.badKey('lookup_percpu', key);
    if (!this.cpuOk(cpu)) return null;
    const e = this.find(key, this.hash(key));
    return e < 0 ? null : this.value(e, cpu);
  }

  updateElem(key: MapKey, value: Uint8Array, flags: number, cpu: number): number {
    if (!this.progCanWrite) return -EACCES; /* verifier: write into map forbidden */
    if (this.percpu ? !plainFlagsOk(flags) : !lockableFlagsOk(flags)) return -EINVAL;
    if (!this.keyOk(key)) throw this.badKey('update', key);
    if (flags & BPF_F_LOCK) return -EINVAL; /* no bpf_spin_lock in an xdpsim value */
    if (!(value instanceof Uint8Array) || value.length < this.valueSize) throw this.shortValue('update', value);
    if (!this.cpuOk(cpu)) throw this.badCpu('update', cpu);
    return this.percpu ? this.pcpuUpdate(key, value, flags, cpu, false) : this.htabUpdate(key, value, flags, cpu);
  }

  deleteElem(key: MapKey, _cpu: number): number {
    if (!this.progCanWrite) return -EACCES;
    if (!this.keyOk(key)) throw this.badKey('delete', key);
    return this.htabDelete(key);
  }

  /* ---- user space (bpf(2)) ---- */

  sysLookup(key: MapKey, out: Uint8Array): number {
    if (!this.sysCanRead) return -EPERM;
    if (!this.keyOk(key)) return -EINVAL;
    const e = this.find(key, this.hash(key));
    if (e < 0) return -ENOENT;
    if (out.length < this.sysValueSize) return -EFAULT;
    if (this.percpu) {
      /* bpf_percpu_hash_copy: round_up(value_size, 8) bytes per CPU */
      const pv = this.pvSize;
      for (let c = 0; c < this.ncpus; c++) {
        const off = (c * this.nElems + e) * pv;
        out.set(this.p8.subarray(off, off + pv), c * pv);
      }
    } else {
      const off = e * this.elemSize + this.valOff;
      out.set(this.e8.subarray(off, off + this.valueSize), 0);
    }
    return 0;
  }

  sysUpdate(key: MapKey, value: Uint8Array, flags: number): number {
    const f = this.sysUpdateFlags(flags);
    if (f < 0) return f;
    if (!this.keyOk(key)) return -EINVAL;
    if (!(value instanceof Uint8Array) || value.length < this.sysValueSize) return -EFAULT;
    if (this.percpu) {
      if (!plainFlagsOk(f)) return -EINVAL;
      return this.pcpuUpdate(key, value, f, 0, true);
    }
    if (!lockableFlagsOk(f)) return -EINVAL;
    return this.htabUpdate(key, value, f, this.ncpus);
  }

  sysDelete(key: MapKey): number {
    if (!this.sysCanWrite) return -EPERM;
    if (!this.keyOk(key)) return -EINVAL;
    return this.htabDelete(key);
  }

  /**
   * htab_map_get_next_key(): the element after `key` in its chain, else the
   * first element of the following buckets; a key that is not in the map
   * (or null) gives the first key of the table. ENOENT after the last.
   */
  sysGetNextKey(key: MapKey | null, out: Uint8Array): number {
    if (!this.sysCanRead) return -EPERM;
    let i = 0;
    if (key !== null) {
      if (!this.keyOk(key)) return -EINVAL;
      const h = this.hash(key);
      const e = this.find(key, h);
      if (e >= 0) {
        const next = Atomics.load(this.e32, e * this.ew + E_NEXT);
        if (next >= 0) {
          if (out.length < this.keySize) return -EFAULT;
          this.copyKeyOut(next, out);
          return 0;
        }
        i = (h & this.mask) + 1;
      }
    }
    for (; i < this.nBuckets; i++) {
      const first = Atomics.load(this.bkt, 2 * i);
      if (first >= 0) {
        if (out.length < this.keySize) return -EFAULT;
        this.copyKeyOut(first, out);
        return 0;
      }
    }
    return -ENOENT;
  }
}
