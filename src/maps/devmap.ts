/*
 * BPF_MAP_TYPE_DEVMAP and BPF_MAP_TYPE_DEVMAP_HASH (kernel/bpf/devmap.c):
 * maps of net devices, the targets of bpf_redirect_map().
 *
 * An entry is a record (the kernel's struct bpf_dtab_netdev) in a slab in
 * shared memory: its value (struct bpf_devmap_val: ifindex, bpf_prog.id),
 * its key, and a chain link. DEVMAP keeps a slot per key holding record+1
 * (0: empty); DEVMAP_HASH keeps n_buckets = roundup_pow_of_two(max_entries)
 * chain heads, bucket = key & (n_buckets - 1) as the kernel's
 * dev_map_index_hash(), new entries at the head of their chain.
 *
 * Concurrency contract, as devmap.c's opening comment describes:
 *  - Only user space writes a devmap (bpf(2) update/delete, the unregister
 *    notifier): one writer, the control plane's instance of the map, so the
 *    record free list lives in that instance and needs no lock.
 *  - A slot or chain head is replaced with Atomics.exchange (DEVMAP) or
 *    written after the new record is complete (DEVMAP_HASH insertion at the
 *    head); an unlinked record keeps its `next` link so a CPU walking the
 *    chain carries on. The unregister notifier clears a DEVMAP slot with
 *    compareExchange, so it never clears an entry a concurrent update put
 *    there.
 *  - CPUs read slots, chain links and records with plain loads, as
 *    rcu_dereference() does: the record's fields are addressed through the
 *    slot's value, so they cannot be read before it (an address
 *    dependency; loads are not reordered with loads on x86), and the writer
 *    wrote them before its publishing Atomics store. A CPU uses what it read
 *    until its poll ends (the bulk queue keeps the target ifindex and
 *    program id, not the record).
 *  - A record taken out of the map is freed (poisoned, then reused) by an
 *    RCU callback (DevmapControl.callRcu: the kernel's
 *    call_rcu(__dev_map_entry_free)), after every CPU has passed a
 *    quiescent state or slept since. The writer never waits for a grace
 *    period: like __dev_map_alloc_node()'s kmalloc, it takes a free record,
 *    or a fresh one from the slab's untouched room (max_entries +
 *    DEVMAP_SPARE_RECORDS records, whose pages the OS commits only when
 *    first written), so ENOMEM means that more than DEVMAP_SPARE_RECORDS
 *    retired records wait for grace periods that a CPU stuck in one poll
 *    holds up: the model's memory pressure.
 */
import { E2BIG, EEXIST, EFAULT, EINVAL, ENOENT, ENOMEM, EPERM } from '../shared/errno.ts';
import {
  BPF_EXIST, BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_MAP_TYPE_DEVMAP_HASH,
  BPF_NOEXIST,
} from '../shared/uapi.ts';
import { MapBase, ValueCache, allocShared, indexGetNextKey, mapShared, u32Key } from './common.ts';
import type { BpfMap, MapKey, MapShared, MapSpecChecked } from './map.ts';
import { ReadOnlyMapValue, type MapValue } from './value.ts';

/* DEV_CREATE_FLAG_MASK; the kernel adds BPF_F_RDONLY_PROG itself */
const DEV_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY;

/* header words */
const H_ITEMS = 0;
const H_NBUCKETS = 1;
const H_RECORDS = 2;
const H_FRESH = 3; /* records ever handed out: those from here on were never written */
const HDR = 8;

/* record words: the value first, so a MapValue over the record is the bpf_devmap_val */
export const R_IFINDEX = 0;
export const R_PROG = 1;
export const R_KEY = 2;
export const R_NEXT = 3;   /* record+1 of the next in the chain (DEVMAP_HASH), 0: end */
export const R_STATE = 4;  /* RS_* */
export const R_GEN = 5;    /* bumped each time the record is given to a new entry */
export const R_RETIRED = 6; /* grace periods started when it was taken out of the map */
export const REC_WORDS = 8;

export const RS_FREE = 0;
export const RS_LIVE = 1;
export const RS_DEAD = 2;  /* out of the map, waiting for a grace period */
/* what a freed record holds until it is reused: a reader that sees it used a record after its grace period */
export const DEVMAP_POISON = 0x6b6b6b6b;

/** What a devmap's writer needs from the runtime: devices, programs, grace periods. */
export interface DevmapControl {
  /** dev_get_by_index(): a registered device that is not being unregistered */
  devOk(ifindex: number): boolean;
  /** the section (expected attach type) of loaded program `id`, or undefined */
  progSection(id: number): string | undefined;
  /** call_rcu(): run fn on the writer's thread after a grace period (callbacks in order) */
  callRcu(fn: () => void): void;
  /** grace periods started so far */
  gpStarted(): number;
  /** a devmap entry takes a reference on its program (bpf_prog_get), and drops it when the entry is freed (bpf_prog_put) */
  progGet(id: number): void;
  progPut(id: number): void;
}

/* A control for maps used without a runtime: no devices, no programs, no CPUs. */
const NO_CONTROL: DevmapControl = {
  devOk: () => false,
  progSection: () => undefined,
  callRcu: (fn) => fn(),
  gpStarted: () => 0,
  progGet: () => {},
  progPut: () => {},
};

export function devmapAllocCheck(attr: MapSpecChecked, fail: (errno: number, msg: string) => never): void {
  if (attr.maxEntries === 0) fail(EINVAL, 'max_entries must be > 0');
  if (attr.keySize !== 4) fail(EINVAL, `key_size ${attr.keySize}: a devmap key is a u32 (4)`);
  if (attr.valueSize !== 4 && attr.valueSize !== 8) {
    fail(EINVAL, `value_size ${attr.valueSize}: 4 (ifindex) or 8 (struct bpf_devmap_val)`);
  }
  if ((attr.mapFlags & ~DEV_CREATE_FLAG_MASK) !== 0) {
    fail(EINVAL, `map_flags 0x${attr.mapFlags.toString(16)}: a devmap takes only BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY`);
  }
  if (attr.type === BPF_MAP_TYPE_DEVMAP_HASH && attr.maxEntries > 2 ** 31) {
    fail(EINVAL, `max_entries ${attr.maxEntries}: a DEVMAP_HASH holds at most 2^31`);
  }
}

function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Records past max_entries: room for entries retired and waiting for their
 * grace period. Only the records ever used are touched, so the rest of the
 * slab costs address space, not memory (a fresh SharedArrayBuffer's pages
 * are committed when first written). A writer retiring entries at any rate
 * keeps about (its rate x the grace-period latency) + RCU_QHIMARK of them.
 */
export const DEVMAP_SPARE_RECORDS = 1 << 20;

function recordCount(maxEntries: number): number {
  return maxEntries + DEVMAP_SPARE_RECORDS;
}

export function devmapAlloc(attr: MapSpecChecked, id: number, ncpus: number, fail: (errno: number, msg: string) => never): MapShared {
  const isHash = attr.type === BPF_MAP_TYPE_DEVMAP_HASH;
  const nb = isHash ? pow2ceil(attr.maxEntries) : 0;
  const slots = isHash ? nb : attr.maxEntries;
  const nrec = recordCount(attr.maxEntries);
  const sab = allocShared(4 * (HDR + slots + nrec * REC_WORDS), `devmap '${attr.name}'`, fail);
  const a = new Int32Array(sab);
  a[H_NBUCKETS] = nb;
  a[H_RECORDS] = nrec;
  /* dev_map_init_map(): lookups point into the entry, so programs may not write */
  return mapShared({ ...attr, mapFlags: attr.mapFlags | BPF_F_RDONLY_PROG }, id, ncpus, [sab]);
}

export class DevMap extends MapBase implements BpfMap {
  readonly isHash: boolean;
  /** the whole map as Int32 words (header, slots or buckets, records) */
  readonly a: Int32Array;
  readonly nbuckets: number;
  /** word index of slot / bucket 0 */
  readonly slotBase: number;
  /** word index of record 0 */
  readonly recBase: number;
  readonly nrecords: number;
  private readonly sab: SharedArrayBuffer;
  private readonly values: ValueCache;
  /* this thread's copies of entry values, for programs (never shared with another thread) */
  private readonly copies: SharedArrayBuffer;
  private readonly copyU32: Uint32Array;
  private readonly copyU64: BigUint64Array;
  /* the writer's state (the control plane's instance only) */
  private control: DevmapControl = NO_CONTROL;
  private readonly free: number[] = [];

  constructor(shared: MapShared) {
    super(shared);
    this.sab = shared.buffers[0]!;
    this.a = new Int32Array(this.sab);
    this.isHash = shared.type === BPF_MAP_TYPE_DEVMAP_HASH;
    this.nbuckets = this.a[H_NBUCKETS]!;
    this.nrecords = this.a[H_RECORDS]!;
    this.slotBase = HDR;
    this.recBase = HDR + (this.isHash ? this.nbuckets : this.maxEntries);
    this.values = new ValueCache(this.nrecords);
    this.copies = new SharedArrayBuffer(8 * this.nrecords);
    this.copyU32 = new Uint32Array(this.copies);
    this.copyU64 = new BigUint64Array(this.copies);
  }

  get sysValueSize(): number {
    return this.valueSize;
  }

  /** Make this instance the map's writer, with the runtime's view of devices, programs and CPUs. */
  bindControl(c: DevmapControl): void {
    this.control = c;
  }

  /* ---------------- the data path (any CPU, inside a NAPI poll) ---------------- */

  /** __dev_map_lookup_elem / __dev_map_hash_lookup_elem: the entry's record, or -1. */
  lookupRec(key: number): number {
    const a = this.a;
    if (!this.isHash) {
      if (!(key >= 0 && key < this.maxEntries)) return -1;
      return a[this.slotBase + key]! - 1;
    }
    let r = a[this.slotBase + (key & (this.nbuckets - 1))]! - 1;
    while (r >= 0) {
      const o = this.recBase + r * REC_WORDS;
      if (a[o + R_KEY] === (key | 0)) return r;
      r = a[o + R_NEXT]! - 1;
    }
    return -1;
  }

  recIfindex(rec: number): number {
    return this.a[this.recBase + rec * REC_WORDS + R_IFINDEX]!;
  }
  /** The record's generation: a CPU that finds it changed used a record after its grace period. */
  recGen(rec: number): number {
    return this.a[this.recBase + rec * REC_WORDS + R_GEN]!;
  }
  /** Read-side check: RS_LIVE, RS_DEAD or RS_FREE, and for a retired record the grace periods started before it was. */
  recState(rec: number): number {
    return Atomics.load(this.a, this.recBase + rec * REC_WORDS + R_STATE);
  }
  recRetired(rec: number): number {
    return Atomics.load(this.a, this.recBase + rec * REC_WORDS + R_RETIRED);
  }

  /** Read-side check: the record is still the one of generation `gen`, live or retired but not freed. */
  recValid(rec: number, gen: number): boolean {
    const o = this.recBase + rec * REC_WORDS;
    const a = this.a;
    return Atomics.load(a, o + R_GEN) === gen && Atomics.load(a, o + R_STATE) !== RS_FREE
      && Atomics.load(a, o + R_IFINDEX) !== DEVMAP_POISON;
  }
  recProg(rec: number): number {
    return this.a[this.recBase + rec * REC_WORDS + R_PROG]!;
  }

  /** DEVMAP: the record in slot i, or -1. */
  slotRec(i: number): number {
    return Atomics.load(this.a, this.slotBase + i) - 1;
  }
  /** DEVMAP_HASH: the first record of bucket b, or -1. */
  bucketHead(b: number): number {
    return Atomics.load(this.a, this.slotBase + b) - 1;
  }
  /** DEVMAP_HASH: the record after `rec` in its chain, or -1. */
  recNext(rec: number): number {
    return Atomics.load(this.a, this.recBase + rec * REC_WORDS + R_NEXT) - 1;
  }

  /**
   * bpf_map_lookup_elem() from a program: the entry's struct bpf_devmap_val,
   * read-only (the kernel marks devmaps BPF_F_RDONLY_PROG): a per-thread
   * copy refreshed at each lookup, whose setters throw.
   */
  lookupElem(key: MapKey, _cpu: number): MapValue | null {
    const k = u32Key(key);
    if (k < 0) throw this.badKey('lookup', key);
    const r = this.lookupRec(k);
    if (r < 0) return null;
    let v = this.values.get(r);
    if (v === null) {
      v = new ReadOnlyMapValue(this.copies, 8 * r, this.valueSize, this.copyU32, this.copyU64, `map '${this.name}' (id ${this.id})`);
      this.values.set(r, v);
    }
    this.copyU32[2 * r] = this.recIfindex(r);
    this.copyU32[2 * r + 1] = this.recProg(r);
    return v;
  }

  /* The verifier refuses map updates from XDP programs on devmaps: say so, loudly. */
  updateElem(_key: MapKey, _value: Uint8Array, _flags: number, _cpu: number): number {
    throw this.progBug('update', 'a devmap can only be updated from user space (the verifier rejects bpf_map_update_elem on a devmap in an XDP program)');
  }
  deleteElem(_key: MapKey, _cpu: number): number {
    throw this.progBug('delete', 'a devmap can only be changed from user space (the verifier rejects bpf_map_delete_elem on a devmap in an XDP program)');
  }

  /* ---------------- user space: bpf(2), the control plane only ---------------- */

  private rec(r: number): number {
    return this.recBase + r * REC_WORDS;
  }

  /* __dev_map_entry_free(), the RCU callback: the record is poisoned (a use after free shows) and goes back to the free list */
  private freeRec(r: number, gen: number): void {
    const o = this.rec(r);
    const a = this.a;
    if (Atomics.load(a, o + R_STATE) !== RS_DEAD || Atomics.load(a, o + R_GEN) !== gen) return;
    /* the entry's program reference goes with it */
    const prog = a[o + R_PROG]!;
    if (prog > 0 && prog !== DEVMAP_POISON) this.control.progPut(prog);
    Atomics.store(a, o + R_IFINDEX, DEVMAP_POISON);
    Atomics.store(a, o + R_PROG, DEVMAP_POISON);
    Atomics.store(a, o + R_KEY, DEVMAP_POISON);
    Atomics.store(a, o + R_STATE, RS_FREE);
    this.free.push(r);
  }

  /*
   * A record for a new entry: the most recently freed first (a record comes
   * back as soon as its grace period allows, so a grace-period bug shows at
   * once as gp_violations instead of hiding behind a long free list), else
   * a fresh one; -1 only when the whole slab waits for grace periods.
   */
  private allocRec(): number {
    const r = this.free.pop();
    if (r !== undefined) return r;
    const fresh = this.a[H_FRESH]!;
    if (fresh >= this.nrecords) return -1;
    this.a[H_FRESH] = fresh + 1;
    return fresh;
  }

  /** call_rcu(__dev_map_entry_free): the record is freed after a grace period. */
  private retire(r: number): void {
    const o = this.rec(r);
    Atomics.store(this.a, o + R_RETIRED, this.control.gpStarted());
    Atomics.store(this.a, o + R_STATE, RS_DEAD);
    const gen = this.a[o + R_GEN]!;
    this.control.callRcu(() => this.freeRec(r, gen));
  }

  /*
   * __dev_map_alloc_node(): a record for `val`; every failure is -EINVAL, as
   * in the kernel (an unknown ifindex, a program that is not a devmap
   * program). xdpsim has no file descriptors: bpf_prog.fd carries the
   * program's id.
   */
  private allocNode(ifindex: number, progFd: number, key: number): number {
    if (!this.control.devOk(ifindex)) return this.err(EINVAL, `value: no device with ifindex ${ifindex}`);
    if (progFd > 0) {
      const sec = this.control.progSection(progFd);
      if (sec === undefined) return this.err(EINVAL, `value: bpf_prog.fd ${progFd} is not a loaded program (xdpsim takes the program's id as its fd)`);
      if (sec !== 'xdp/devmap') return this.err(EINVAL, `value: program ${progFd} is SEC("${sec}"); a devmap entry takes only SEC("xdp/devmap") programs`);
    }
    const r = this.allocRec();
    if (r < 0) return this.err(ENOMEM, `no free entry record: all ${this.nrecords - this.maxEntries} spare ones wait for grace periods (a CPU stuck in a poll?)`);
    const o = this.rec(r);
    const a = this.a;
    Atomics.store(a, o + R_IFINDEX, ifindex);
    Atomics.store(a, o + R_PROG, progFd > 0 ? progFd : 0);
    if (progFd > 0) this.control.progGet(progFd);
    Atomics.store(a, o + R_KEY, key | 0);
    Atomics.store(a, o + R_NEXT, 0);
    Atomics.store(a, o + R_STATE, RS_LIVE);
    Atomics.add(a, o + R_GEN, 1);
    return r;
  }

  private readVal(value: Uint8Array): { ifindex: number; fd: number } | null {
    if (!(value instanceof Uint8Array) || value.length < this.valueSize) return null;
    const dv = new DataView(value.buffer, value.byteOffset, value.length);
    return { ifindex: dv.getUint32(0, true), fd: this.valueSize === 8 ? dv.getInt32(4, true) : 0 };
  }

  sysUpdate(key: MapKey, value: Uint8Array, flags: number): number {
    this.why = '';
    const f = this.sysUpdateFlags(flags);
    if (f < 0) return f;
    const k = u32Key(key);
    if (k < 0) return -EINVAL;
    const val = this.readVal(value);
    if (val === null) return -EFAULT;
    return this.isHash ? this.hashUpdate(k, val.ifindex, val.fd, f) : this.arrayUpdate(k, val.ifindex, val.fd, f);
  }

  /* __dev_map_update_elem() */
  private arrayUpdate(i: number, ifindex: number, fd: number, flags: number): number {
    if (flags > BPF_EXIST) return this.err(EINVAL, `flags ${flags}: use BPF_ANY, BPF_NOEXIST or BPF_EXIST`);
    if (i >= this.maxEntries) return this.err(E2BIG, `key ${i} >= max_entries ${this.maxEntries}`);
    if (flags === BPF_NOEXIST) return this.err(EEXIST, `flags BPF_NOEXIST: every slot of a DEVMAP exists (empty or not)`);
    let r = -1;
    if (ifindex === 0) {
      if (fd > 0) return this.err(EINVAL, 'value: a program (bpf_prog.fd) needs an ifindex');
    } else {
      r = this.allocNode(ifindex, fd, i);
      if (r < 0) return r;
    }
    const old = Atomics.exchange(this.a, this.slotBase + i, r + 1) - 1;
    if (old >= 0) this.retire(old);
    else Atomics.add(this.a, H_ITEMS, 1);
    return 0;
  }

  /* __dev_map_hash_update_elem(): note the kernel does not refuse BPF_EXIST on a missing key */
  private hashUpdate(idx: number, ifindex: number, fd: number, flags: number): number {
    if (flags > BPF_EXIST) return this.err(EINVAL, `flags ${flags}: use BPF_ANY, BPF_NOEXIST or BPF_EXIST`);
    if (ifindex === 0) return this.err(EINVAL, 'value: ifindex 0 (a DEVMAP_HASH entry needs a device)');
    const old = this.lookupRec(idx);
    if (old >= 0 && (flags & BPF_NOEXIST) !== 0) return this.err(EEXIST, `flags BPF_NOEXIST: key ${idx} exists`);
    const r = this.allocNode(ifindex, fd, idx);
    if (r < 0) return r;
    if (old >= 0) {
      this.unlink(old);
    } else {
      if (this.a[H_ITEMS]! >= this.maxEntries) {
        this.retire(r);
        return this.err(E2BIG, `the map is full: ${this.maxEntries} entries (max_entries), key ${idx} cannot be added`);
      }
      Atomics.add(this.a, H_ITEMS, 1);
    }
    const head = this.slotBase + (idx & (this.nbuckets - 1));
    Atomics.store(this.a, this.rec(r) + R_NEXT, Atomics.load(this.a, head));
    Atomics.store(this.a, head, r + 1);
    if (old >= 0) this.retire(old);
    return 0;
  }

  /* hlist_del_rcu(): take `r` out of its chain; its own next link stays for readers on it */
  private unlink(r: number): void {
    const a = this.a;
    const key = a[this.rec(r) + R_KEY]!;
    let link = this.slotBase + (key & (this.nbuckets - 1));
    for (let cur = a[link]! - 1; cur >= 0; cur = a[this.rec(cur) + R_NEXT]! - 1) {
      if (cur === r) {
        Atomics.store(a, link, a[this.rec(r) + R_NEXT]!);
        return;
      }
      link = this.rec(cur) + R_NEXT;
    }
  }

  sysDelete(key: MapKey): number {
    const k = this.sysDeleteKey(key);
    if (k < 0) return k;
    if (!this.isHash) {
      /* dev_map_delete_elem(): an empty slot deletes fine */
      if (k >= this.maxEntries) return this.err(EINVAL, `key ${k} >= max_entries ${this.maxEntries}`);
      const old = Atomics.exchange(this.a, this.slotBase + k, 0) - 1;
      if (old >= 0) {
        this.retire(old);
        Atomics.sub(this.a, H_ITEMS, 1);
      }
      return 0;
    }
    const old = this.lookupRec(k);
    if (old < 0) return this.err(ENOENT, `key ${k} does not exist`);
    Atomics.sub(this.a, H_ITEMS, 1);
    this.unlink(old);
    this.retire(old);
    return 0;
  }

  sysLookup(key: MapKey, out: Uint8Array): number {
    const k = this.sysLookupKey(key, out);
    if (k < 0) return k;
    const r = this.lookupRec(k);
    if (r < 0) return -ENOENT;
    this.putProgValue(out, this.recIfindex(r), this.recProg(r));
    return 0;
  }

  sysGetNextKey(key: MapKey | null, out: Uint8Array): number {
    if (!this.sysCanRead) return -EPERM;
    if (!(out instanceof Uint8Array) || out.length < 4) return -EFAULT;
    const put = (v: number): number => {
      new DataView(out.buffer, out.byteOffset, 4).setUint32(0, v >>> 0, true);
      return 0;
    };
    let k = -1;
    if (key !== null) {
      k = u32Key(key);
      if (k < 0) return -EINVAL;
    }
    /* dev_map_get_next_key(): a walk over indexes, whether or not they hold an entry */
    if (!this.isHash) return indexGetNextKey(key, out, this.maxEntries);
    /* dev_map_hash_get_next_key(): the rest of the key's chain, then the next buckets */
    let b = 0;
    if (key !== null) {
      const r = this.lookupRec(k);
      if (r >= 0) {
        const n = this.recNext(r);
        if (n >= 0) return put(this.a[this.rec(n) + R_KEY]!);
        b = (k & (this.nbuckets - 1)) + 1;
      }
    }
    for (; b < this.nbuckets; b++) {
      const h = this.bucketHead(b);
      if (h >= 0) return put(this.a[this.rec(h) + R_KEY]!);
    }
    return -ENOENT;
  }

  /** Entries in the map (dtab->items). */
  items(): number {
    return Atomics.load(this.a, H_ITEMS);
  }

  /*
   * dev_map_notification(NETDEV_UNREGISTER): drop every entry that points at
   * `ifindex`. DEVMAP clears the slot with a compare-and-exchange, so an
   * entry a concurrent update just put there survives. Returns how many.
   */
  removeIfindex(ifindex: number): number {
    let n = 0;
    const a = this.a;
    if (!this.isHash) {
      for (let i = 0; i < this.maxEntries; i++) {
        const r = this.slotRec(i);
        if (r < 0 || this.recIfindex(r) !== ifindex) continue;
        if (Atomics.compareExchange(a, this.slotBase + i, r + 1, 0) === r + 1) {
          this.retire(r);
          Atomics.sub(a, H_ITEMS, 1);
          n++;
        }
      }
      return n;
    }
    for (let b = 0; b < this.nbuckets; b++) {
      for (let r = this.bucketHead(b); r >= 0;) {
        const next = this.recNext(r);
        if (this.recIfindex(r) === ifindex) {
          Atomics.sub(a, H_ITEMS, 1);
          this.unlink(r);
          this.retire(r);
          n++;
        }
        r = next;
      }
    }
    return n;
  }
}

/** struct bpf_devmap_val as bytes: { ifindex, bpf_prog.fd } (xdpsim: the program's id as fd). */
export function devmapVal(ifindex: number, prog: number | { id: number } | null = null): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, ifindex >>> 0, true);
  dv.setInt32(4, prog === null ? 0 : typeof prog === 'number' ? prog : prog.id, true);
  return b;
}

export function isDevmap(m: BpfMap): m is DevMap {
  return m instanceof DevMap;
}

