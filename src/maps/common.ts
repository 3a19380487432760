/*
 * What every plain map type shares: size limits and rounding from the
 * kernel, key and flag checks, the per-thread cache of MapValue views, the
 * bucket/freelist lock, and the base class of a map opened on one thread.
 *
 * Concurrency contract: everything here is either pure or per-thread
 * (MapBase fields, ValueCache). The only shared-memory code is spinLock /
 * spinUnlock, a futex-style mutex on one Int32 word: 0 free, 1 held,
 * 2 held with waiters. Taken with Atomics.compareExchange, a short spin,
 * then Atomics.wait; released with Atomics.exchange (+ notify if 2).
 */
import { EFAULT, EINVAL, ENOENT, ENOMEM, EPERM, XdpsimError } from '../shared/errno.ts';
import {
  BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_NOEXIST,
} from '../shared/uapi.ts';
import type { MapKey, MapShared, MapSpecChecked } from './map.ts';
import type { MapValue } from './value.ts';

/* include/linux/slab.h on x86_64 with 4 KiB pages: 1 << (MAX_PAGE_ORDER + PAGE_SHIFT) */
export const KMALLOC_MAX_SIZE = 4 << 20;
/* mm/percpu.c: a per-CPU value must fit one unit */
export const PCPU_MIN_UNIT_SIZE = 32 << 10;
/* sizeof(struct htab_elem) on x86_64 (kernel/bpf/hashtab.c) */
export const HTAB_ELEM_STRUCT_SIZE = 48;
export const INT_MAX = 0x7fffffff;
export const U32_MAX = 0xffffffff;
/*
 * xdpsim's own limit: one SharedArrayBuffer of a map holds at most 2 GiB
 * - 8, so every byte offset is a non-negative int32. Bigger maps fail with
 * ENOMEM, as a kernel map fails when bpf_map_area_alloc() cannot get memory.
 */
export const MAX_MAP_BUFFER_BYTES = 0x7ffffff8;

export function roundUp8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export function isU32(n: unknown): n is number {
  return typeof n === 'number' && (n >>> 0) === n;
}

/** A shared buffer of `bytes` bytes, or an XdpsimError(ENOMEM). */
export function allocShared(bytes: number, what: string, fail: (errno: number, msg: string) => never): SharedArrayBuffer {
  const size = checkSize(bytes, what, fail);
  try {
    return new SharedArrayBuffer(size);
  } catch {
    return fail(ENOMEM, `${what}: cannot allocate ${size} bytes of shared memory`);
  }
}

/** ENOMEM unless a buffer of `bytes` bytes is within MAX_MAP_BUFFER_BYTES; the rounded size. */
export function checkSize(bytes: number, what: string, fail: (errno: number, msg: string) => never): number {
  const size = roundUp8(Math.max(bytes, 8));
  if (size > MAX_MAP_BUFFER_BYTES) {
    fail(ENOMEM, `${what} needs ${bytes} bytes, more than xdpsim's ${MAX_MAP_BUFFER_BYTES}-byte limit per map buffer`);
  }
  return size;
}

/** The MapShared that map_alloc() of any type returns: the checked attributes and the buffers. */
export function mapShared(attr: MapSpecChecked, id: number, ncpus: number, buffers: SharedArrayBuffer[]): MapShared {
  return {
    id, type: attr.type, keySize: attr.keySize, valueSize: attr.valueSize, maxEntries: attr.maxEntries,
    mapFlags: attr.mapFlags, name: attr.name, ncpus, buffers,
  };
}

/**
 * n bytes of src from srcOff to dst at dstOff: one set() when src is
 * exactly the n bytes, else a loop (a subarray would allocate).
 */
export function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  if (srcOff === 0 && src.length === n) {
    dst.set(src, dstOff);
  } else {
    for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i]!;
  }
}

/* ---- keys ---- */

/**
 * The u32 a 4-byte key stands for (a number, or 4 bytes little endian), or
 * -1 if `key` is not a valid 4-byte key.
 */
export function u32Key(key: MapKey): number {
  if (typeof key === 'number') return (key >>> 0) === key ? key : -1;
  if (key instanceof Uint8Array && key.length === 4) {
    return (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
  }
  return -1;
}

/** Why `key` is not a key of a map with `keySize`, or null if it is one. */
export function keyProblem(key: unknown, keySize: number): string | null {
  if (typeof key === 'number') {
    if (keySize !== 4) return `a number key needs key_size 4 (this map has key_size ${keySize}); pass a Uint8Array of ${keySize} bytes`;
    if ((key >>> 0) !== key) return `key ${key} is not a u32`;
    return null;
  }
  if (key instanceof Uint8Array) {
    if (key.length !== keySize) return `key has ${key.length} bytes, key_size is ${keySize}`;
    return null;
  }
  return `key must be a number (key_size 4) or a Uint8Array of key_size bytes, not ${describeType(key)}`;
}

export function describeType(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

/** A key for messages: `300` for u32 keys, `<0a 00 00 01 ...>` otherwise. */
export function formatKey(key: unknown, keySize: number): string {
  if (typeof key === 'number') return String(key);
  if (key instanceof Uint8Array) {
    if (keySize === 4 && key.length === 4) return String(u32Key(key));
    const hex: string[] = [];
    for (let i = 0; i < key.length && i < 32; i++) hex.push(key[i]!.toString(16).padStart(2, '0'));
    return `<${hex.join(' ')}${key.length > 32 ? ' ...' : ''}>`;
  }
  return String(key);
}

/* ---- update flags ---- */

/**
 * flags as a u32, or -1 if they are not a non-negative integer below 2^32
 * (the kernel takes a u64; anything that large has unknown bits: EINVAL).
 */
export function flagsU32(flags: number): number {
  return (flags >>> 0) === flags ? flags : -1;
}

/** array_map_update_elem / htab_map_update_elem: (flags & ~BPF_F_LOCK) > BPF_EXIST is EINVAL. */
export function lockableFlagsOk(flags: number): boolean {
  return (flags & 7) === flags && (flags & 3) !== 3;
}

/** percpu updates (and the lru ones): flags > BPF_EXIST is EINVAL, BPF_F_LOCK included. */
export function plainFlagsOk(flags: number): boolean {
  return flags === BPF_ANY || flags === BPF_NOEXIST || flags === BPF_EXIST;
}

export function formatFlags(flags: number): string {
  if (flagsU32(flags) < 0) return String(flags);
  const names: string[] = [];
  const low = flags & 3;
  names.push(low === 0 ? 'BPF_ANY' : low === 1 ? 'BPF_NOEXIST' : low === 2 ? 'BPF_EXIST' : 'BPF_NOEXIST|BPF_EXIST');
  if (flags & BPF_F_LOCK) names.push('BPF_F_LOCK');
  const rest = (flags & ~7) >>> 0;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.join('|');
}

/* ---- per-thread cache of value views ---- */

const PAGE_SHIFT = 8;
const PAGE_MASK = (1 << PAGE_SHIFT) - 1;

/**
 * slot -> MapValue, filled lazily: pages of 256 views, so a large map costs
 * nothing until its entries are used. Per thread.
 */
export class ValueCache {
  private readonly pages: (MapValue | null)[][];
  /* shared by every unused page: all null, never written */
  private static readonly EMPTY: (MapValue | null)[] = new Array<MapValue | null>(PAGE_MASK + 1).fill(null);

  constructor(nslots: number) {
    const n = Math.ceil(nslots / (PAGE_MASK + 1));
    this.pages = new Array<(MapValue | null)[]>(n).fill(ValueCache.EMPTY);
  }

  get(slot: number): MapValue | null {
    return this.pages[slot >>> PAGE_SHIFT]![slot & PAGE_MASK];
  }

  set(slot: number, v: MapValue): void {
    let page = this.pages[slot >>> PAGE_SHIFT]!;
    if (page === ValueCache.EMPTY) {
      page = new Array<MapValue | null>(PAGE_MASK + 1).fill(null);
      this.pages[slot >>> PAGE_SHIFT] = page;
    }
    page[slot & PAGE_MASK] = v;
  }
}

/* ---- the lock ---- */

const SPINS = 200;
const WAIT_SLICE_MS = 20;
/*
 * A lock still held after this long means its holder died inside a critical
 * section (a worker terminated mid-update). The kernel cannot lose a lock
 * holder; xdpsim can, so the waiter gives up and the operation returns
 * -EBUSY (the kernel's errno for a bucket it could not lock) instead of
 * hanging the thread forever.
 */
export const LOCK_TIMEOUT_MS = 2000;

/** Take the lock word a[i]; false if it could not be had within LOCK_TIMEOUT_MS. */
export function spinLock(a: Int32Array, i: number): boolean {
  if (Atomics.compareExchange(a, i, 0, 1) === 0) return true;
  return spinLockSlow(a, i);
}

function spinLockSlow(a: Int32Array, i: number): boolean {
  for (let s = 0; s < SPINS; s++) {
    if (Atomics.load(a, i) === 0 && Atomics.compareExchange(a, i, 0, 1) === 0) return true;
  }
  let deadline = 0;
  while (Atomics.exchange(a, i, 2) !== 0) {
    if (Atomics.wait(a, i, 2, WAIT_SLICE_MS) === 'timed-out') {
      const now = Date.now();
      if (deadline === 0) deadline = now + LOCK_TIMEOUT_MS;
      else if (now > deadline) return false;
    }
  }
  return true;
}

export function spinUnlock(a: Int32Array, i: number): void {
  if (Atomics.exchange(a, i, 0) === 2) Atomics.notify(a, i, 1);
}

/**
 * get_next_key of the maps indexed 0..max_entries-1 (array_map_get_next_key,
 * and the devmap, cpumap and xskmap copies of it): NULL or an index past
 * the end gives 0, the last index ENOENT, else the next index, written into
 * out as a little-endian u32. Returns 0 or -errno.
 */
export function indexGetNextKey(key: MapKey | null, out: Uint8Array, maxEntries: number): number {
  let index = 0xffffffff;
  if (key !== null) {
    index = u32Key(key);
    if (index < 0) return -EINVAL;
  }
  let next: number;
  if (index >= maxEntries) next = 0;
  else if (index === maxEntries - 1) return -ENOENT;
  else next = index + 1;
  if (!(out instanceof Uint8Array) || out.length < 4) return -EFAULT;
  out[0] = next & 0xff;
  out[1] = (next >>> 8) & 0xff;
  out[2] = (next >>> 16) & 0xff;
  out[3] = next >>> 24;
  return 0;
}

/* ---- the base of every opened map ---- */

/** Fields every map type keeps per thread; see map.ts for the BpfMap interface. */
export abstract class MapBase {
  readonly shared: MapShared;
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
  readonly ncpus: number;
  /* the creating fd's mode: BPF_F_RDONLY / BPF_F_WRONLY (map_get_sys_perms) */
  protected readonly sysCanRead: boolean;
  protected readonly sysCanWrite: boolean;
  /* BPF_F_RDONLY_PROG: the verifier refuses update/delete from programs */
  protected readonly progCanWrite: boolean;
  /** why the last user-space call failed, for MapHandle's message ('' after a success, or when the errno says it all) */
  why = '';

  constructor(shared: MapShared) {
    this.shared = shared;
    this.id = shared.id;
    this.name = shared.name;
    this.type = shared.type;
    this.keySize = shared.keySize;
    this.valueSize = shared.valueSize;
    this.maxEntries = shared.maxEntries;
    this.mapFlags = shared.mapFlags;
    this.ncpus = shared.ncpus;
    this.sysCanRead = (shared.mapFlags & BPF_F_WRONLY) === 0;
    this.sysCanWrite = (shared.mapFlags & BPF_F_RDONLY) === 0;
    this.progCanWrite = (shared.mapFlags & BPF_F_RDONLY_PROG) === 0;
  }

  /** -errno, noting why for MapHandle's message. */
  protected err(errno: number, why: string): number {
    this.why = why;
    return -errno;
  }

  /** Size of one value as bpf(2) copies it: ncpus * round_up(value_size, 8) for per-CPU maps. */
  abstract get sysValueSize(): number;

  protected cpuOk(cpu: number): boolean {
    return (cpu >>> 0) === cpu && cpu < this.ncpus;
  }

  /**
   * The key of a user-space delete on an index-keyed map (devmap, cpumap,
   * xskmap): -EPERM without write permission, -EINVAL for a key that is not
   * a u32; else the key.
   */
  protected sysDeleteKey(key: MapKey): number {
    this.why = '';
    if (!this.sysCanWrite) return -EPERM;
    const k = u32Key(key);
    return k < 0 ? -EINVAL : k;
  }

  /**
   * The key of a user-space lookup on an index-keyed map: -EPERM without
   * read permission, -EINVAL for a key that is not a u32, -EFAULT for an
   * output shorter than a value; else the key.
   */
  protected sysLookupKey(key: MapKey, out: Uint8Array): number {
    this.why = '';
    if (!this.sysCanRead) return -EPERM;
    const k = u32Key(key);
    if (k < 0) return -EINVAL;
    if (!(out instanceof Uint8Array) || out.length < this.valueSize) return -EFAULT;
    return k;
  }

  /**
   * A devmap's or cpumap's value as user space reads it: the u32 `first`
   * (ifindex, qsize), then the entry's program id when the value has room
   * for it (value_size 8).
   */
  protected putProgValue(out: Uint8Array, first: number, progId: number): void {
    const dv = new DataView(out.buffer, out.byteOffset, out.length);
    dv.setUint32(0, first, true);
    if (this.valueSize === 8) dv.setUint32(4, progId, true);
  }

  /**
   * map_update_elem()'s checks before the type's own: -EPERM without write
   * permission, -EINVAL for flags that are not a u32 or carry BPF_F_LOCK
   * (it needs a bpf_spin_lock in the value, which no xdpsim value has);
   * else the flags as a u32.
   */
  protected sysUpdateFlags(flags: number): number {
    if (!this.sysCanWrite) return -EPERM;
    const f = flagsU32(flags);
    if (f < 0) return -EINVAL;
    if (f & BPF_F_LOCK) return -EINVAL;
    return f;
  }

  /*
   * A datapath call with arguments the verifier would never let through (a
   * key of the wrong type or size, a value buffer shorter than value_size, a
   * cpu that does not exist) is a bug in the program: throw, so the program
   * ends in XDP_ABORTED with an xdp_exception naming the problem.
   */
  protected progBug(op: string, msg: string): XdpsimError {
    return new XdpsimError(EINVAL, `map '${this.name}' (id ${this.id}) ${op} from a program: ${msg}`);
  }

  protected badKey(op: string, key: unknown): XdpsimError {
    return this.progBug(op, keyProblem(key, this.keySize) ?? 'bad key');
  }

  protected badCpu(op: string, cpu: number): XdpsimError {
    return this.progBug(op, `cpu ${cpu} does not exist (ncpus ${this.ncpus})`);
  }

  protected shortValue(op: string, value: Uint8Array): XdpsimError {
    return this.progBug(op, `value has ${value?.length} bytes, value_size is ${this.valueSize}`);
  }
}
