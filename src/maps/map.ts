/*
 * BPF maps: the common interface and the factory. createMapShared() is
 * BPF_MAP_CREATE (kernel/bpf/syscall.c map_create() + the type's
 * map_alloc_check/map_alloc), run once by the control plane; the MapShared
 * it returns is posted to every worker, and each thread openMap()s it once.
 *
 * Concurrency contract: createMapShared runs on one thread before the map
 * is shared (plain stores). A BpfMap from openMap is per thread (it caches
 * typed-array views and MapValue views); the memory behind it is shared,
 * with the rules of each type's file (array.ts, hash.ts).
 *
 * Errors: inside the model every operation returns 0 or a negative errno,
 * as the kernel does. Arguments the verifier would never let through (a key
 * of the wrong type or size, a short value, a cpu that does not exist)
 * make the data-path calls throw an XdpsimError(EINVAL) instead, so that a
 * buggy program ends in XDP_ABORTED with a message; the bpf(2) side
 * (sys*) returns -EINVAL for a bad key and -EFAULT for a buffer shorter
 * than the kernel would copy. MapHandle (handle.ts) turns errnos into
 * thrown XdpsimErrors with messages.
 */
import { EINVAL, XdpsimError } from '../shared/errno.ts';
import {
  BPF_F_RDONLY, BPF_F_WRONLY, BPF_MAP_TYPE_ARENA, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH,
  BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_OBJ_NAME_LEN, BPF_MAP_TYPE_DEVMAP,
  BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_XSKMAP,
} from '../shared/uapi.ts';
import { ArrayMap, arrayAlloc, arrayAllocCheck } from './array.ts';
import { isU32 } from './common.ts';
import { HashMap, htabAlloc, htabAllocCheck } from './hash.ts';
import { DevMap, devmapAlloc, devmapAllocCheck } from './devmap.ts';
import { CpuMap, cpumapAlloc, cpumapAllocCheck } from './cpumap.ts';
import { XskMap, xskmapAlloc, xskmapAllocCheck } from './xskmap.ts';
import type { MapValue } from './value.ts';

export interface MapSpec {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags?: number;
  name?: string;
}

/** A MapSpec after the generic checks: every field present, the numbers u32s. */
export type MapSpecChecked = Required<MapSpec>;

/**
 * Structured-clonable description of one map's shared memory: posted to
 * every worker. mapFlags are as given at creation, BPF_F_RDONLY/BPF_F_WRONLY
 * included: they are the mode of the creating fd, which xdpsim's user space
 * always uses.
 */
export interface MapShared extends MapSpecChecked {
  id: number;
  ncpus: number;
  buffers: SharedArrayBuffer[];
}

/** number only when keySize === 4 (a u32, stored little endian); else a Uint8Array of exactly keySize bytes. */
export type MapKey = number | Uint8Array;

export interface BpfMap {
  readonly shared: MapShared;
  /* ---- data path: called from XDP programs on CPU `cpu`; negative errno like the helpers; no allocation ---- */
  /** bpf_map_lookup_elem; per-CPU maps give this cpu's value. */
  lookupElem(key: MapKey, cpu: number): MapValue | null;
  /** bpf_map_update_elem: 0 or -errno. */
  updateElem(key: MapKey, value: Uint8Array, flags: number, cpu: number): number;
  /** bpf_map_delete_elem (arrays: -EINVAL). */
  deleteElem(key: MapKey, cpu: number): number;
  /* ---- user space: the bpf(2) syscall's rules: 0 or -errno ---- */
  /** Per-CPU maps: out gets ncpus values of round_up(valueSize, 8) bytes each. */
  sysLookup(key: MapKey, out: Uint8Array): number;
  /** Per-CPU maps: value holds ncpus values of round_up(valueSize, 8) bytes each. */
  sysUpdate(key: MapKey, value: Uint8Array, flags: number): number;
  sysDelete(key: MapKey): number;
  /** Writes the next key (keySize bytes) into out. */
  sysGetNextKey(key: MapKey | null, out: Uint8Array): number;
}

const MAP_TYPE_NAMES = [
  'UNSPEC', 'HASH', 'ARRAY', 'PROG_ARRAY', 'PERF_EVENT_ARRAY', 'PERCPU_HASH', 'PERCPU_ARRAY', 'STACK_TRACE',
  'CGROUP_ARRAY', 'LRU_HASH', 'LRU_PERCPU_HASH', 'LPM_TRIE', 'ARRAY_OF_MAPS', 'HASH_OF_MAPS', 'DEVMAP',
  'SOCKMAP', 'CPUMAP', 'XSKMAP', 'SOCKHASH', 'CGROUP_STORAGE', 'REUSEPORT_SOCKARRAY',
  'PERCPU_CGROUP_STORAGE', 'QUEUE', 'STACK', 'SK_STORAGE', 'DEVMAP_HASH', 'STRUCT_OPS', 'RINGBUF',
  'INODE_STORAGE', 'TASK_STORAGE', 'BLOOM_FILTER', 'USER_RINGBUF', 'CGRP_STORAGE', 'ARENA',
] as const;

/** 'BPF_MAP_TYPE_HASH' for 1; 'map type 99' for a number the kernel does not know. */
export function mapTypeName(type: number): string {
  const n = MAP_TYPE_NAMES[type];
  return n === undefined ? `map type ${type}` : `BPF_MAP_TYPE_${n}`;
}

/** True for the per-CPU map types implemented here. */
export function isPercpuType(type: number): boolean {
  return type === BPF_MAP_TYPE_PERCPU_ARRAY || type === BPF_MAP_TYPE_PERCPU_HASH;
}

/**
 * bpf_obj_name_cpy(): a name is at most BPF_OBJ_NAME_LEN - 1 (15) characters
 * of [A-Za-z0-9_.]. A loader that wants libbpf's behaviour for longer names
 * (silent truncation) should pass objName(name).
 */
export function objName(name: string): string {
  return name.slice(0, BPF_OBJ_NAME_LEN - 1);
}

/**
 * Validate like the kernel's map_create() and the type's map_alloc_check(),
 * then allocate (map_alloc). Throws XdpsimError with the kernel's errno and a
 * message naming the bad field.
 */
export function createMapShared(spec: MapSpec, id: number, ncpus: number): MapShared {
  const name = spec?.name ?? '';
  const fail = (errno: number, msg: string): never => {
    throw new XdpsimError(errno, `map '${typeof name === 'string' ? name : String(name)}' create: ${msg}`);
  };
  if (typeof spec !== 'object' || spec === null) fail(EINVAL, 'spec must be an object');
  if (!isU32(ncpus) || ncpus === 0) fail(EINVAL, `ncpus ${ncpus} must be a positive integer`);
  if (!isU32(id)) fail(EINVAL, `id ${id} must be a u32`);
  /* union bpf_attr fields are u32 */
  for (const field of ['type', 'keySize', 'valueSize', 'maxEntries', 'mapFlags'] as const) {
    const v = field === 'mapFlags' ? (spec.mapFlags ?? 0) : spec[field];
    if (!isU32(v)) fail(EINVAL, `${kernelField(field)} ${String(v)} is not a u32`);
  }
  if (typeof name !== 'string') fail(EINVAL, `map_name must be a string`);
  const attr: MapSpecChecked = {
    type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries,
    mapFlags: spec.mapFlags ?? 0, name,
  };
  /* bpf_get_file_flag() */
  if ((attr.mapFlags & BPF_F_RDONLY) && (attr.mapFlags & BPF_F_WRONLY)) {
    fail(EINVAL, 'map_flags: BPF_F_RDONLY and BPF_F_WRONLY together');
  }
  let shared: MapShared;
  switch (attr.type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
      arrayAllocCheck(attr, fail);
      shared = arrayAlloc(attr, id, ncpus, fail);
      break;
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
      htabAllocCheck(attr, fail);
      shared = htabAlloc(attr, id, ncpus, fail);
      break;
    case BPF_MAP_TYPE_DEVMAP:
    case BPF_MAP_TYPE_DEVMAP_HASH:
      devmapAllocCheck(attr, fail);
      shared = devmapAlloc(attr, id, ncpus, fail);
      break;
    case BPF_MAP_TYPE_CPUMAP:
      cpumapAllocCheck(attr, fail);
      shared = cpumapAlloc(attr, id, ncpus, fail);
      break;
    case BPF_MAP_TYPE_XSKMAP:
      xskmapAllocCheck(attr, fail);
      shared = xskmapAlloc(attr, id, ncpus, fail);
      break;
    default:
      if (attr.type === 0 || attr.type > BPF_MAP_TYPE_ARENA) fail(EINVAL, `map_type ${attr.type}: no such map type`);
      return fail(EINVAL, `${mapTypeName(attr.type)} is not supported by createMapShared ` +
        '(it creates ARRAY, PERCPU_ARRAY, HASH, PERCPU_HASH, DEVMAP, DEVMAP_HASH, CPUMAP and XSKMAP)');
  }
  /* bpf_obj_name_cpy(), after the map is allocated, as in map_create() */
  if (name.length > BPF_OBJ_NAME_LEN - 1) {
    fail(EINVAL, `map_name '${name}' is longer than ${BPF_OBJ_NAME_LEN - 1} characters`);
  }
  if (!/^[A-Za-z0-9_.]*$/.test(name)) fail(EINVAL, `map_name '${name}': only letters, digits, '_' and '.' are allowed`);
  return shared;
}

function kernelField(f: 'type' | 'keySize' | 'valueSize' | 'maxEntries' | 'mapFlags'): string {
  return { type: 'map_type', keySize: 'key_size', valueSize: 'value_size', maxEntries: 'max_entries', mapFlags: 'map_flags' }[f];
}

/** Open a map on any thread (cheap, called once per thread per map). */
export function openMap(shared: MapShared): BpfMap {
  switch (shared.type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
      return new ArrayMap(shared);
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
      return new HashMap(shared);
    case BPF_MAP_TYPE_DEVMAP:
    case BPF_MAP_TYPE_DEVMAP_HASH:
      return new DevMap(shared);
    case BPF_MAP_TYPE_CPUMAP:
      return new CpuMap(shared);
    case BPF_MAP_TYPE_XSKMAP:
      return new XskMap(shared);
    default:
      throw new XdpsimError(EINVAL, `map '${shared.name}' (id ${shared.id}): openMap cannot open ${mapTypeName(shared.type)}`);
  }
}

export { MapValue } from './value.ts';
