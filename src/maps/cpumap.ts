/*
 * BPF_MAP_TYPE_CPUMAP (kernel/bpf/cpumap.c): redirect XDP frames to another
 * CPU, where the entry's consumer (the kernel's "cpumap/<cpu>/map:<id>"
 * kthread) runs an optional program on them and hands them to the stack.
 *
 * Shared memory (one SharedArrayBuffer, Int32 words):
 *   header       items, records, an entry-change sequence (H_SEQ)
 *   slots        max_entries words: record+1 of the entry for that CPU, 0: none
 *   records      struct bpf_cpu_map_entry: qsize, program id, cpu, state,
 *                generation, and its queue's indexes (producer side and
 *                consumer side on separate 64-byte lines)
 *   queues       one ptr_ring per record, QSIZE_MAX slots each (qsize used)
 *
 * The queue is the kernel's ptr_ring, exactly: `qsize` slots, a slot is
 * empty when it holds 0 (a frame is stored as descriptor+1); a producer
 * fails (-ENOSPC) when the slot at its index is not empty; the single
 * consumer zeroes the slots it consumed in batches (ptr_ring's `batch`: 16
 * slots, or 1 when that is more than half the ring), so a producer can find
 * the ring full with fewer than qsize frames in it, as in the kernel.
 *
 * Concurrency contract:
 *  - Only user space writes slots and records (update, delete): the control
 *    plane's instance of the map, one writer. A slot is replaced with
 *    Atomics.exchange; the old entry is retired through call_rcu, as
 *    __cpu_map_entry_replace() does: after a grace period (no CPU can still
 *    enqueue to it: bulk queues are flushed within a poll) the callback
 *    tells it to stop (CS_STOPPING, kthread_stop) and wakes its CPU; its
 *    consumer drains the queue and marks it CS_STOPPED (with a notify),
 *    which the control plane awaits with Atomics.waitAsync (the kernel's
 *    free_work) before it frees the record. The writer never waits: a new
 *    entry takes a free record or a fresh one from the map's untouched
 *    room (CPUMAP_SPARE_RECORDS past one per CPU).
 *  - Producers (any CPU, at xdp_do_flush or when a bulk queue is full) take
 *    the record's producer lock (a compare-and-exchange, ptr_ring's
 *    producer_lock), write slots with Atomics.store and move the producer
 *    index, which only lock holders touch.
 *  - The consumer is the CPU named by the entry (kthread_bind): it reads
 *    slots with Atomics.load and zeroes them with Atomics.store; its head
 *    and tail are its own.
 *  - CPUs read slots and record fields with plain loads inside a poll
 *    (rcu_dereference, as devmap.ts explains).
 */
import { E2BIG, EEXIST, EFAULT, EINVAL, ENODEV, ENOENT, ENOMEM, EOVERFLOW, EPERM } from '../shared/errno.ts';
import { BPF_EXIST, BPF_F_NUMA_NODE, BPF_NOEXIST } from '../shared/uapi.ts';
import { MapBase, allocShared, indexGetNextKey, mapShared, u32Key } from './common.ts';
import type { BpfMap, MapKey, MapShared, MapSpecChecked } from './map.ts';
import type { MapValue } from './value.ts';
import type { DevmapControl } from './devmap.ts';
import { producerLock, producerUnlock } from '../shared/ring.ts';

/** CPU_MAP_BULK_SIZE: frames a CPU's bulk queue for one entry holds before it is flushed to the entry's queue. */
export const CPU_MAP_BULK_SIZE = 8;
/** CPUMAP_BATCH: frames the consumer takes from the queue at a time. */
export const CPUMAP_BATCH = 8;
/** The kernel's sanity limit on qsize. */
export const CPUMAP_QSIZE_MAX = 16384;
/** NR_CPUS of the kernel xdpsim models (x86_64 distribution configs): max_entries above it is E2BIG. */
export const NR_CPUS = 8192;

/* header words */
const H_ITEMS = 0;
const H_RECORDS = 1;
const H_SEQ = 2; /* bumped on every change of a slot or a record's state: consumers rebuild their task lists */
const H_FRESH = 3; /* records ever handed out: those from here on were never written (nobody scans past it) */
const HDR = 8;

/* record words */
export const C_QSIZE = 0;
export const C_PROG = 1;
export const C_CPU = 2;
export const C_STATE = 3;
export const C_GEN = 4;
export const C_RETIRED = 5;
export const C_BATCH = 6;
/* producer side (under the lock) */
const C_PROD = 16;
const C_LOCK = 17;
/* consumer side */
const C_HEAD = 24;
const C_TAIL = 25;
const REC_WORDS = 32;

export const CS_FREE = 0;
export const CS_LIVE = 1;     /* in the map */
export const CS_DEAD = 2;     /* out of the map, waiting for a grace period; its consumer still runs */
export const CS_STOPPING = 3; /* kthread_stop(): the consumer drains the queue and exits */
export const CS_STOPPED = 4;  /* the consumer is gone: the record can be freed */
const CPUMAP_POISON = 0x6b6b6b6b;

/** What a cpumap's writer needs: the devmap's control, plus waking a CPU (wake_up_process of the kthread). */
export interface CpumapControl extends DevmapControl {
  wakeCpu(cpu: number): void;
}

export function cpumapAllocCheck(attr: MapSpecChecked, fail: (errno: number, msg: string) => never): void {
  if (attr.maxEntries === 0) fail(EINVAL, 'max_entries must be > 0');
  if (attr.keySize !== 4) fail(EINVAL, `key_size ${attr.keySize}: a cpumap key is a u32 CPU number (4)`);
  if (attr.valueSize !== 4 && attr.valueSize !== 8) {
    fail(EINVAL, `value_size ${attr.valueSize}: 4 (qsize) or 8 (struct bpf_cpumap_val)`);
  }
  if ((attr.mapFlags & ~BPF_F_NUMA_NODE) !== 0) {
    fail(EINVAL, `map_flags 0x${attr.mapFlags.toString(16)}: a cpumap takes only BPF_F_NUMA_NODE`);
  }
  if (attr.maxEntries > NR_CPUS) fail(E2BIG, `max_entries ${attr.maxEntries} > NR_CPUS (${NR_CPUS})`);
}

/**
 * Records past one per possible entry: room for entries retired and
 * waiting for their grace period and their kthread's drain. Only records
 * ever used are touched (their queue's slots up to qsize), so the rest
 * costs address space, not memory.
 */
export const CPUMAP_SPARE_RECORDS = 4096;

function recordCount(maxEntries: number, ncpus: number): number {
  return Math.min(maxEntries, ncpus) + CPUMAP_SPARE_RECORDS;
}

export function cpumapAlloc(attr: MapSpecChecked, id: number, ncpus: number, fail: (errno: number, msg: string) => never): MapShared {
  const nrec = recordCount(attr.maxEntries, ncpus);
  const words = HDR + attr.maxEntries + nrec * REC_WORDS + nrec * CPUMAP_QSIZE_MAX;
  const sab = allocShared(4 * words, `cpumap '${attr.name}'`, fail);
  new Int32Array(sab)[H_RECORDS] = nrec;
  return mapShared(attr, id, ncpus, [sab]);
}

export class CpuMap extends MapBase implements BpfMap {
  readonly a: Int32Array;
  readonly nrecords: number;
  readonly slotBase = HDR;
  readonly recBase: number;
  readonly ringBase: number;
  /* the writer's state (the control plane's instance only) */
  private control: CpumapControl | null = null;
  private readonly free: number[] = [];
  /* records retired and not freed yet (waiting for a grace period, or for their kthread to stop) */
  private retired = 0;

  /*
   * This CPU's bulk queues (struct xdp_bulk_queue, per entry record):
   * per-thread state of the instance a CPU opened (the flush list is the
   * CPU's, src/cpu/cpumap.ts).
   */
  readonly bq: Int32Array;
  readonly bqCount: Int32Array;
  readonly bqOnList: Int32Array;

  constructor(shared: MapShared) {
    super(shared);
    this.a = new Int32Array(shared.buffers[0]!);
    this.nrecords = this.a[H_RECORDS]!;
    this.recBase = HDR + this.maxEntries;
    this.ringBase = this.recBase + this.nrecords * REC_WORDS;
    this.bq = new Int32Array(this.nrecords * CPU_MAP_BULK_SIZE);
    this.bqCount = new Int32Array(this.nrecords);
    this.bqOnList = new Int32Array(this.nrecords);
  }

  get sysValueSize(): number {
    return this.valueSize;
  }

  bindControl(c: CpumapControl): void {
    this.control = c;
  }

  /* ---------------- the data path ---------------- */

  /** __cpu_map_lookup_elem(): the entry's record, or -1. */
  lookupRec(key: number): number {
    if (!(key >= 0 && key < this.maxEntries)) return -1;
    return this.a[this.slotBase + key]! - 1;
  }
  recCpu(rec: number): number {
    return this.a[this.recBase + rec * REC_WORDS + C_CPU]!;
  }
  recProg(rec: number): number {
    return this.a[this.recBase + rec * REC_WORDS + C_PROG]!;
  }
  recGen(rec: number): number {
    return this.a[this.recBase + rec * REC_WORDS + C_GEN]!;
  }
  recState(rec: number): number {
    return Atomics.load(this.a, this.recBase + rec * REC_WORDS + C_STATE);
  }
  recQsize(rec: number): number {
    return this.a[this.recBase + rec * REC_WORDS + C_QSIZE]!;
  }
  /** Entry changes so far: a consumer whose copy differs rebuilds its list of tasks. */
  seq(): number {
    return Atomics.load(this.a, H_SEQ);
  }

  /**
   * bq_flush_to_queue()'s ring part: under the producer lock, put
   * frames[from..from+n) into the record's queue (__ptr_ring_produce);
   * writes into `drops` (from 0) the frames that did not fit and returns
   * their number.
   */
  produce(rec: number, frames: Int32Array, from: number, n: number, drops: Int32Array): number {
    const a = this.a;
    const o = this.recBase + rec * REC_WORDS;
    const ring = this.ringBase + rec * CPUMAP_QSIZE_MAX;
    const size = a[o + C_QSIZE]!;
    let nd = 0;
    producerLock(a, o + C_LOCK);
    let p = a[o + C_PROD]!;
    for (let i = 0; i < n; i++) {
      const fd = frames[from + i]!;
      if (size === 0 || Atomics.load(a, ring + p) !== 0) {
        drops[nd++] = fd;
        continue;
      }
      Atomics.store(a, ring + p, fd + 1);
      if (++p >= size) p = 0;
    }
    a[o + C_PROD] = p;
    producerUnlock(a, o + C_LOCK);
    return nd;
  }

  /** The consumer: is the queue empty (__ptr_ring_empty)? */
  queueEmpty(rec: number): boolean {
    const o = this.recBase + rec * REC_WORDS;
    return Atomics.load(this.a, this.ringBase + rec * CPUMAP_QSIZE_MAX + this.a[o + C_HEAD]!) === 0;
  }

  /** The consumer: __ptr_ring_consume_batched(): up to max frames into out; returns how many. */
  consume(rec: number, out: Int32Array, max: number): number {
    const a = this.a;
    const o = this.recBase + rec * REC_WORDS;
    const ring = this.ringBase + rec * CPUMAP_QSIZE_MAX;
    const size = a[o + C_QSIZE]!;
    const batch = a[o + C_BATCH]!;
    let head = a[o + C_HEAD]!;
    let tail = a[o + C_TAIL]!;
    let n = 0;
    while (n < max) {
      const v = Atomics.load(a, ring + head);
      if (v === 0) break;
      out[n++] = v - 1;
      /* __ptr_ring_discard_one(): zero consumed slots a batch at a time, newest first */
      head++;
      if (head - tail >= batch || head >= size) {
        for (let i = head - 1; i >= tail; i--) Atomics.store(a, ring + i, 0);
        if (head >= size) head = 0;
        tail = head;
      }
    }
    a[o + C_HEAD] = head;
    a[o + C_TAIL] = tail;
    return n;
  }

  /** The consumer acknowledges kthread_stop(): it drained the queue and will not touch the record again. */
  markStopped(rec: number): void {
    const i = this.recBase + rec * REC_WORDS + C_STATE;
    Atomics.store(this.a, i, CS_STOPPED);
    Atomics.add(this.a, H_SEQ, 1);
    /* a writer out of records may wait for this (allocRec) */
    Atomics.notify(this.a, i);
  }

  /** Records ever used: every other one is free and untouched. */
  usedBound(): number {
    return Atomics.load(this.a, H_FRESH);
  }

  /** Every record a consumer on `cpu` must serve (live, dead or stopping), into out; returns how many. */
  tasksOf(cpu: number, out: number[]): number {
    out.length = 0;
    const n = this.usedBound();
    for (let r = 0; r < n; r++) {
      const s = this.recState(r);
      if ((s === CS_LIVE || s === CS_DEAD || s === CS_STOPPING) && this.recCpu(r) === cpu) out.push(r);
    }
    return out.length;
  }

  /* The verifier lets XDP programs use a cpumap only through bpf_redirect_map(). */
  lookupElem(_key: MapKey, _cpu: number): MapValue | null {
    throw this.progBug('lookup', 'a cpumap is used through bpf_redirect_map() only (the verifier rejects bpf_map_lookup_elem on it)');
  }
  updateElem(_key: MapKey, _value: Uint8Array, _flags: number, _cpu: number): number {
    throw this.progBug('update', 'a cpumap can only be updated from user space');
  }
  deleteElem(_key: MapKey, _cpu: number): number {
    throw this.progBug('delete', 'a cpumap can only be changed from user space');
  }

  /* ---------------- user space: the control plane only ---------------- */

  private rec(r: number): number {
    return this.recBase + r * REC_WORDS;
  }

  /*
   * The RCU callback of a retired entry (__cpu_map_entry_free's
   * cpu_map_kthread_stop): no CPU can enqueue to it any more; tell its
   * kthread to stop, and free the record once it has drained the queue.
   */
  private stopRec(r: number, gen: number): void {
    const o = this.rec(r);
    if (this.recState(r) !== CS_DEAD || Atomics.load(this.a, o + C_GEN) !== gen) return; /* freed meanwhile (the runtime stopped) */
    Atomics.store(this.a, o + C_STATE, CS_STOPPING);
    Atomics.add(this.a, H_SEQ, 1);
    this.control?.wakeCpu(this.a[o + C_CPU]!);
    void this.awaitStopped(r, gen);
  }

  /* the kernel's free_work: wait (without blocking the thread) for the kthread to stop, then free the record */
  private async awaitStopped(r: number, gen: number): Promise<void> {
    const i = this.rec(r) + C_STATE;
    while (Atomics.load(this.a, i) === CS_STOPPING && Atomics.load(this.a, this.rec(r) + C_GEN) === gen) {
      const w = Atomics.waitAsync(this.a, i, CS_STOPPING, 100);
      if (w.async) await w.value;
    }
    if (Atomics.load(this.a, i) === CS_STOPPED && Atomics.load(this.a, this.rec(r) + C_GEN) === gen) this.freeRec(r);
  }

  /** Frames waiting in any entry's queue (a CPU woken to consume them may not have started yet). */
  anyQueued(): boolean {
    const n = this.usedBound();
    for (let r = 0; r < n; r++) if (this.recState(r) !== CS_FREE && !this.queueEmpty(r)) return true;
    return false;
  }

  /** Entries retired but not yet freed (waiting for a grace period or for their consumer to drain). */
  retiring(): number {
    return this.retired;
  }

  /** Records in use (live, retired, stopping): what the runtime purges and frees after it stopped the CPUs. */
  usedRecords(): number[] {
    const out: number[] = [];
    const n = this.usedBound();
    for (let r = 0; r < n; r++) {
      const s = this.recState(r);
      if (s !== CS_FREE) out.push(r);
    }
    return out;
  }

  private freeRec(r: number): void {
    const o = this.rec(r);
    const a = this.a;
    const prog = a[o + C_PROG]!;
    if (prog > 0 && prog !== CPUMAP_POISON) this.control?.progPut(prog);
    /* only the first qsize slots were ever used (the rest stay untouched) */
    a.fill(0, this.ringBase + r * CPUMAP_QSIZE_MAX, this.ringBase + r * CPUMAP_QSIZE_MAX + a[o + C_QSIZE]!);
    const s = Atomics.load(a, o + C_STATE);
    if (s === CS_DEAD || s === CS_STOPPING || s === CS_STOPPED) this.retired--;
    Atomics.store(a, o + C_PROG, CPUMAP_POISON);
    Atomics.store(a, o + C_QSIZE, 0);
    Atomics.store(a, o + C_STATE, CS_FREE);
    /* an awaitStopped() of this record ends */
    Atomics.notify(a, o + C_STATE);
    this.free.push(r);
  }

  /** The runtime stopped every CPU: free the records whose consumer is gone, after it purged their queues. */
  freeAfterStop(r: number): void {
    this.freeRec(r);
  }

  /* A record for a new entry: the most recently freed first, else a fresh one; -1 only when every record is in use or retired. */
  private allocRec(): number {
    const r = this.free.pop();
    if (r !== undefined) return r;
    const fresh = this.a[H_FRESH]!;
    if (fresh >= this.nrecords) return -1;
    Atomics.store(this.a, H_FRESH, fresh + 1);
    return fresh;
  }

  /* __cpu_map_entry_replace(): call_rcu(__cpu_map_entry_free) */
  private retire(r: number): void {
    const c = this.control;
    const o = this.rec(r);
    Atomics.store(this.a, o + C_RETIRED, c?.gpStarted() ?? 0);
    Atomics.store(this.a, o + C_STATE, CS_DEAD);
    Atomics.add(this.a, H_SEQ, 1);
    this.retired++;
    const gen = this.a[o + C_GEN]!;
    /* a map without a runtime has no CPUs to stop: its retired records stay retired */
    c?.callRcu(() => this.stopRec(r, gen));
  }

  /* cpu_map_update_elem() */
  sysUpdate(key: MapKey, value: Uint8Array, flags: number): number {
    this.why = '';
    const f = this.sysUpdateFlags(flags);
    if (f < 0) return f;
    const k = u32Key(key);
    if (k < 0) return -EINVAL;
    if (!(value instanceof Uint8Array) || value.length < this.valueSize) return -EFAULT;
    const dv = new DataView(value.buffer, value.byteOffset, value.length);
    const qsize = dv.getUint32(0, true);
    const fd = this.valueSize === 8 ? dv.getInt32(4, true) : 0;
    if (f > BPF_EXIST) return this.err(EINVAL, `flags ${f}: use BPF_ANY, BPF_NOEXIST or BPF_EXIST`);
    if (k >= this.maxEntries) return this.err(E2BIG, `key ${k} >= max_entries ${this.maxEntries}`);
    if (f === BPF_NOEXIST) return this.err(EEXIST, 'flags BPF_NOEXIST: every slot of a CPUMAP exists (empty or not)');
    if (qsize > CPUMAP_QSIZE_MAX) return this.err(EOVERFLOW, `value: qsize ${qsize} > ${CPUMAP_QSIZE_MAX}`);
    if (k >= this.ncpus) return this.err(ENODEV, `key ${k}: no such CPU (the runtime has ${this.ncpus})`);
    let r = -1;
    if (qsize !== 0) {
      /* __cpu_map_entry_alloc(): any failure, a bad program included, is -ENOMEM */
      if (fd > 0) {
        const sec = this.control?.progSection(fd);
        if (sec === undefined) return this.err(ENOMEM, `value: bpf_prog.fd ${fd} is not a loaded program (the kernel reports the failed entry allocation as ENOMEM)`);
        if (sec !== 'xdp/cpumap') return this.err(ENOMEM, `value: program ${fd} is SEC("${sec}"); a cpumap entry takes only SEC("xdp/cpumap") programs (the kernel reports the failed entry allocation as ENOMEM)`);
      }
      r = this.allocRec();
      if (r < 0) return this.err(ENOMEM, `no free entry record: all ${this.nrecords} wait for a grace period or for their consumer to drain`);
      const o = this.rec(r);
      const a = this.a;
      a.fill(0, o + C_PROD, o + REC_WORDS);
      a[o + C_QSIZE] = qsize;
      /* ptr_ring_init(): the consumer zeroes a batch of 16 slots (two cache lines of pointers) at a time */
      a[o + C_BATCH] = 16 > (qsize >>> 1) ? 1 : 16;
      a[o + C_CPU] = k;
      a[o + C_PROG] = fd > 0 ? fd : 0;
      if (fd > 0) this.control?.progGet(fd);
      Atomics.add(a, o + C_GEN, 1);
      Atomics.store(a, o + C_STATE, CS_LIVE);
    }
    /* __cpu_map_entry_replace() */
    const old = Atomics.exchange(this.a, this.slotBase + k, r + 1) - 1;
    Atomics.add(this.a, H_SEQ, 1);
    if (old >= 0) this.retire(old);
    if (old < 0 && r >= 0) Atomics.add(this.a, H_ITEMS, 1);
    if (old >= 0 && r < 0) Atomics.sub(this.a, H_ITEMS, 1);
    if (r >= 0) this.control?.wakeCpu(k);
    return 0;
  }

  /* cpu_map_delete_elem() */
  sysDelete(key: MapKey): number {
    const k = this.sysDeleteKey(key);
    if (k < 0) return k;
    if (k >= this.maxEntries) return this.err(EINVAL, `key ${k} >= max_entries ${this.maxEntries}`);
    const old = Atomics.exchange(this.a, this.slotBase + k, 0) - 1;
    if (old >= 0) {
      Atomics.add(this.a, H_SEQ, 1);
      Atomics.sub(this.a, H_ITEMS, 1);
      this.retire(old);
    }
    return 0;
  }

  /* cpu_map_lookup_elem(): the entry's value, { qsize, bpf_prog.id } */
  sysLookup(key: MapKey, out: Uint8Array): number {
    const k = this.sysLookupKey(key, out);
    if (k < 0) return k;
    const r = this.lookupRec(k);
    if (r < 0) return -ENOENT;
    this.putProgValue(out, this.recQsize(r), this.recProg(r));
    return 0;
  }

  /* cpu_map_get_next_key(): a walk over indexes */
  sysGetNextKey(key: MapKey | null, out: Uint8Array): number {
    if (!this.sysCanRead) return -EPERM;
    return indexGetNextKey(key, out, this.maxEntries);
  }

  items(): number {
    return Atomics.load(this.a, H_ITEMS);
  }
}

/** struct bpf_cpumap_val as bytes: { qsize, bpf_prog.fd } (xdpsim: the program's id as fd). */
export function cpumapVal(qsize: number, prog: number | { id: number } | null = null): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, qsize >>> 0, true);
  dv.setInt32(4, prog === null ? 0 : typeof prog === 'number' ? prog : prog.id, true);
  return b;
}
