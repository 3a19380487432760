/*
 * BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_PERCPU_ARRAY (kernel/bpf/arraymap.c).
 *
 * Every element exists from creation, zero-filled: key_size is 4, the key
 * is the index, lookups past max_entries find nothing, updates there fail
 * with E2BIG, BPF_NOEXIST always fails with EEXIST and delete always fails
 * with EINVAL.
 *
 * Layout: one SharedArrayBuffer (shared.buffers[0]) of elements of
 * elem_size = round_up(value_size, 8) bytes. ARRAY: element i at
 * i * elem_size. PERCPU_ARRAY: one copy of the whole array per CPU, CPU c's
 * element i at (c * max_entries + i) * elem_size, so that each CPU's values
 * are contiguous, like its per-CPU area.
 *
 * Concurrency contract, as in the kernel there is no lock:
 *  - ARRAY: any thread (every CPU's programs and user space) reads and
 *    writes values in place. An update is a plain memcpy of value_size
 *    bytes; a reader racing with it may see a mix of old and new bytes, as
 *    in the kernel. Counters shared by CPUs must use MapValue.atomicAdd*.
 *  - PERCPU_ARRAY: CPU c's programs write only CPU c's copy (lookupElem and
 *    updateElem with cpu = c, the calling worker's own CPU); user space
 *    reads and writes all copies (bpf_percpu_array_copy/update), racing with
 *    the CPUs exactly as the kernel's syscall does.
 * Nothing is ever freed while the map exists, so a MapValue stays valid.
 */
import { E2BIG, EACCES, EEXIST, EFAULT, EINVAL, ENOENT, EPERM } from '../shared/errno.ts';
import {
  BPF_F_ACCESS_MASK, BPF_F_INNER_MAP, BPF_F_LOCK, BPF_F_MMAPABLE, BPF_F_NUMA_NODE, BPF_F_PRESERVE_ELEMS,
  BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_NOEXIST,
  BPF_MAP_TYPE_PERF_EVENT_ARRAY,
} from '../shared/uapi.ts';
import {
  INT_MAX, MapBase, PCPU_MIN_UNIT_SIZE, ValueCache, allocShared, copyBytes, indexGetNextKey, lockableFlagsOk, mapShared,
  plainFlagsOk, roundUp8, u32Key,
} from './common.ts';
import type { BpfMap, MapKey, MapShared, MapSpecChecked } from './map.ts';
import { MapValue } from './value.ts';

const ARRAY_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK |
  BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;

/** array_map_alloc_check(): throws through `fail` with the kernel's errno. */
export function arrayAllocCheck(attr: MapSpecChecked, fail: (errno: number, msg: string) => never): void {
  const percpu = attr.type === BPF_MAP_TYPE_PERCPU_ARRAY;
  const tname = percpu ? 'BPF_MAP_TYPE_PERCPU_ARRAY' : 'BPF_MAP_TYPE_ARRAY';
  if (attr.maxEntries === 0) fail(EINVAL, `max_entries 0: ${tname} needs max_entries > 0`);
  if (attr.keySize !== 4) fail(EINVAL, `key_size ${attr.keySize}: ${tname} needs key_size 4 (a u32 index)`);
  if (attr.valueSize === 0) fail(EINVAL, `value_size 0: ${tname} needs value_size > 0`);
  const unknown = (attr.mapFlags & ~ARRAY_CREATE_FLAG_MASK) >>> 0;
  if (unknown) fail(EINVAL, `map_flags 0x${attr.mapFlags.toString(16)}: bits 0x${unknown.toString(16)} are not accepted by ${tname}`);
  if ((attr.mapFlags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) === (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) {
    fail(EINVAL, 'map_flags: BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together');
  }
  if (percpu && (attr.mapFlags & BPF_F_NUMA_NODE)) fail(EINVAL, `map_flags: BPF_F_NUMA_NODE is meaningless for ${tname}`);
  if (attr.type !== BPF_MAP_TYPE_ARRAY && (attr.mapFlags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP))) {
    fail(EINVAL, `map_flags: BPF_F_MMAPABLE and BPF_F_INNER_MAP are only for BPF_MAP_TYPE_ARRAY`);
  }
  if (attr.type !== BPF_MAP_TYPE_PERF_EVENT_ARRAY && (attr.mapFlags & BPF_F_PRESERVE_ELEMS)) {
    fail(EINVAL, `map_flags: BPF_F_PRESERVE_ELEMS is only for BPF_MAP_TYPE_PERF_EVENT_ARRAY`);
  }
  if (attr.valueSize > INT_MAX) fail(E2BIG, `value_size ${attr.valueSize} > INT_MAX`);
  if (percpu && roundUp8(attr.valueSize) > PCPU_MIN_UNIT_SIZE) {
    fail(E2BIG, `value_size ${attr.valueSize}: a per-CPU value is limited to PCPU_MIN_UNIT_SIZE (${PCPU_MIN_UNIT_SIZE}) bytes`);
  }
}

/** array_map_alloc(): the zero-filled element area. */
export function arrayAlloc(attr: MapSpecChecked, id: number, ncpus: number,
  fail: (errno: number, msg: string) => never): MapShared {
  const percpu = attr.type === BPF_MAP_TYPE_PERCPU_ARRAY;
  const elemSize = roundUp8(attr.valueSize);
  const copies = percpu ? ncpus : 1;
  const buf = allocShared(attr.maxEntries * elemSize * copies, `${attr.maxEntries} elements of ${elemSize} bytes` +
    (percpu ? ` on each of ${ncpus} CPUs` : ''), fail);
  return mapShared(attr, id, ncpus, [buf]);
}

export class ArrayMap extends MapBase implements BpfMap {
  private readonly buf: SharedArrayBuffer;
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly u64: BigUint64Array;
  private readonly elemSize: number;
  private readonly percpu: boolean;
  private readonly cache: ValueCache;

  constructor(shared: MapShared) {
    super(shared);
    this.buf = shared.buffers[0]!;
    this.u8 = new Uint8Array(this.buf);
    this.u32 = new Uint32Array(this.buf);
    this.u64 = new BigUint64Array(this.buf);
    this.elemSize = roundUp8(shared.valueSize);
    this.percpu = shared.type === BPF_MAP_TYPE_PERCPU_ARRAY;
    this.cache = new ValueCache(shared.maxEntries * (this.percpu ? shared.ncpus : 1));
  }

  get sysValueSize(): number {
    return this.percpu ? this.elemSize * this.ncpus : this.valueSize;
  }

  /* slot of (index, cpu): index < max_entries, cpu checked by the caller */
  private slot(index: number, cpu: number): number {
    return this.percpu ? cpu * this.maxEntries + index : index;
  }

  private value(slot: number): MapValue {
    let v = this.cache.get(slot);
    if (v === null) {
      v = new MapValue(this.buf, slot * this.elemSize, this.valueSize, this.u32, this.u64);
      this.cache.set(slot, v);
    }
    return v;
  }

  /* ---- data path ---- */

  /** array_map_lookup_elem / percpu_array_map_lookup_elem */
  lookupElem(key: MapKey, cpu: number): MapValue | null {
    const index = u32Key(key);
    if (index < 0) throw this.badKey('lookup', key);
    if (index >= this.maxEntries) return null;
    if (this.percpu && !this.cpuOk(cpu)) throw this.badCpu('lookup', cpu);
    return this.value(this.slot(index, cpu));
  }

  /** bpf_map_lookup_percpu_elem: another CPU's copy (null if cpu >= ncpus, like nr_cpu_ids). */
  lookupPercpuElem(key: MapKey, cpu: number): MapValue | null {
    if (!this.percpu) return null;
    const index = u32Key(key);
    if (index < 0) throw this.badKey('lookup_percpu', key);
    if (!this.cpuOk(cpu) || index >= this.maxEntries) return null;
    return this.value(this.slot(index, cpu));
  }

  /** array_map_update_elem, from a program: this CPU's copy for PERCPU_ARRAY. */
  updateElem(key: MapKey, value: Uint8Array, flags: number, cpu: number): number {
    if (!this.progCanWrite) return -EACCES; /* verifier: write into map forbidden */
    if (!lockableFlagsOk(flags)) return -EINVAL;
    const index = u32Key(key);
    if (index < 0) throw this.badKey('update', key);
    if (index >= this.maxEntries) return -E2BIG;
    if (flags & BPF_NOEXIST) return -EEXIST;
    if (flags & BPF_F_LOCK) return -EINVAL; /* no bpf_spin_lock in an xdpsim value */
    if (!(value instanceof Uint8Array) || value.length < this.valueSize) throw this.shortValue('update', value);
    if (this.percpu && !this.cpuOk(cpu)) throw this.badCpu('update', cpu);
    copyBytes(this.u8, this.slot(index, cpu) * this.elemSize, value, 0, this.valueSize);
    return 0;
  }

  /** array_map_delete_elem: array elements cannot be deleted. */
  deleteElem(_key: MapKey, _cpu: number): number {
    if (!this.progCanWrite) return -EACCES;
    return -EINVAL;
  }

  /* ---- user space (bpf(2)) ---- */

  sysLookup(key: MapKey, out: Uint8Array): number {
    if (!this.sysCanRead) return -EPERM;
    const index = u32Key(key);
    if (index < 0) return -EINVAL;
    if (index >= this.maxEntries) return -ENOENT;
    if (this.percpu) {
      /* bpf_percpu_array_copy: round_up(value_size, 8) bytes per CPU */
      const es = this.elemSize;
      if (out.length < es * this.ncpus) return -EFAULT;
      for (let c = 0; c < this.ncpus; c++) {
        const off = this.slot(index, c) * es;
        out.set(this.u8.subarray(off, off + es), c * es);
      }
    } else {
      if (out.length < this.valueSize) return -EFAULT;
      const off = index * this.elemSize;
      out.set(this.u8.subarray(off, off + this.valueSize), 0);
    }
    return 0;
  }

  sysUpdate(key: MapKey, value: Uint8Array, flags: number): number {
    const f = this.sysUpdateFlags(flags);
    if (f < 0) return f;
    const index = u32Key(key);
    if (index < 0) return -EINVAL;
    if (!(value instanceof Uint8Array) || value.length < this.sysValueSize) return -EFAULT;
    if (this.percpu) {
      /* bpf_percpu_array_update */
      if (!plainFlagsOk(f)) return -EINVAL;
      if (index >= this.maxEntries) return -E2BIG;
      if (f === BPF_NOEXIST) return -EEXIST;
      const es = this.elemSize;
      for (let c = 0; c < this.ncpus; c++) copyBytes(this.u8, this.slot(index, c) * es, value, c * es, es);
      return 0;
    }
    /* array_map_update_elem */
    if (!lockableFlagsOk(f)) return -EINVAL;
    if (index >= this.maxEntries) return -E2BIG;
    if (f & BPF_NOEXIST) return -EEXIST;
    copyBytes(this.u8, index * this.elemSize, value, 0, this.valueSize);
    return 0;
  }

  sysDelete(key: MapKey): number {
    if (!this.sysCanWrite) return -EPERM;
    if (u32Key(key) < 0) return -EINVAL;
    return -EINVAL;
  }

  /** array_map_get_next_key: null or an index past the end gives 0; the last gives ENOENT. */
  sysGetNextKey(key: MapKey | null, out: Uint8Array): number {
    if (!this.sysCanRead) return -EPERM;
    return indexGetNextKey(key, out, this.maxEntries);
  }
}
