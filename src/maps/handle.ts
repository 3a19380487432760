/*
 * MapHandle: the user-facing handle of one map (what `obj.maps.x` is), the
 * equivalent of libbpf's bpf_map__lookup_elem() & co. on the main thread.
 * It calls the map's bpf(2) operations and turns a negative errno into a
 * thrown XdpsimError whose message names the map, the operation and the
 * argument that was wrong, e.g.
 *   E2BIG: map 'tx_port' (id 3) update: key 300 >= max_entries 256
 *
 * Concurrency contract: a handle belongs to the thread that made it (it
 * wraps a per-thread BpfMap); everything it returns is a copy, never a view
 * of shared memory. It has the syscall's semantics: a lookup may race with
 * programs writing the value, as bpf(2) does.
 */
import { guardApi } from '../shared/api-guard.ts';
import {
  E2BIG, EBUSY, EEXIST, EFAULT, EINVAL, ENOENT, EPERM, XdpsimError,
} from '../shared/errno.ts';
import { BPF_ANY, BPF_F_LOCK, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY } from '../shared/uapi.ts';
import {
  LOCK_TIMEOUT_MS, describeType, flagsU32, formatFlags, formatKey, keyProblem, lockableFlagsOk, plainFlagsOk,
  roundUp8,
} from './common.ts';
import { isPercpuType, mapTypeName, type BpfMap, type MapKey } from './map.ts';

const TWO32 = 4294967296;

export class MapHandle {
  readonly map: BpfMap;
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly percpu: boolean;
  readonly ncpus: number;
  /** Bytes of one value as bpf(2) copies it: ncpus * round_up(valueSize, 8) for per-CPU maps. */
  readonly sysValueSize: number;
  private readonly isArray: boolean;
  private readonly stride: number;

  constructor(map: BpfMap) {
    const s = map.shared;
    this.map = map;
    this.id = s.id;
    this.name = s.name;
    this.type = s.type;
    this.ncpus = s.ncpus;
    this.percpu = isPercpuType(s.type);
    this.isArray = s.type === BPF_MAP_TYPE_ARRAY || s.type === BPF_MAP_TYPE_PERCPU_ARRAY;
    this.stride = roundUp8(s.valueSize);
    this.sysValueSize = this.percpu ? this.stride * s.ncpus : s.valueSize;
  }

  get keySize(): number { return this.map.shared.keySize; }
  get valueSize(): number { return this.map.shared.valueSize; }
  get maxEntries(): number { return this.map.shared.maxEntries; }
  get mapFlags(): number { return this.map.shared.mapFlags; }

  /** A copy of the value (per-CPU maps: all CPUs' values, round_up(valueSize, 8) apart); null if there is none. */
  lookup(key: MapKey): Uint8Array | null {
    this.checkKey('lookup', key);
    const out = new Uint8Array(this.sysValueSize);
    const r = this.map.sysLookup(key, out);
    if (r === -ENOENT) return null;
    if (r < 0) throw this.fail('lookup', r, key);
    return out;
  }

  /** Per-CPU maps only: one valueSize copy per CPU; null if the key has no value. */
  lookupPerCpu(key: MapKey): Uint8Array[] | null {
    if (!this.percpu) {
      throw new XdpsimError(EINVAL, `${this.who()} lookupPerCpu: ${mapTypeName(this.type)} is not a per-CPU map; use lookup()`);
    }
    const all = this.lookup(key);
    if (all === null) return null;
    const res: Uint8Array[] = [];
    for (let c = 0; c < this.ncpus; c++) res.push(all.slice(c * this.stride, c * this.stride + this.valueSize));
    return res;
  }

  /**
   * bpf_map_update_elem(). `value`: a Uint8Array of valueSize bytes; a number
   * or bigint for a u32 (valueSize 4) or u64 (valueSize 8) value. Per-CPU
   * maps: the same value on every CPU, unless a Uint8Array of
   * ncpus * round_up(valueSize, 8) bytes gives one value per CPU.
   */
  update(key: MapKey, value: Uint8Array | number | bigint, flags: number = BPF_ANY): void {
    this.checkKey('update', key);
    const buf = this.encodeValue(value);
    const r = this.map.sysUpdate(key, buf, flags);
    if (r < 0) throw this.fail('update', r, key, flags);
  }

  delete(key: MapKey): void {
    this.checkKey('delete', key);
    const r = this.map.sysDelete(key);
    if (r < 0) throw this.fail('delete', r, key);
  }

  /** The key after `key` (null: the first key); null at the end. */
  getNextKey(key: MapKey | null): Uint8Array | null {
    if (key !== null) this.checkKey('getNextKey', key);
    const out = new Uint8Array(this.keySize);
    const r = this.map.sysGetNextKey(key, out);
    if (r === -ENOENT) return null;
    if (r < 0) throw this.fail('getNextKey', r, key);
    return out;
  }

  /** Every key, by get_next_key from null (with its semantics under concurrent deletes). */
  *keys(): IterableIterator<Uint8Array> {
    let k: Uint8Array | null = null;
    for (;;) {
      const next = this.getNextKey(k);
      if (next === null) return;
      yield next;
      k = next;
    }
  }

  /** The u64 at `off` in the value (per-CPU maps: the sum over CPUs); null if there is no value. */
  lookupU64(key: MapKey, off = 0): number | null {
    if (!Number.isInteger(off) || off < 0 || off + 8 > this.valueSize) {
      throw new XdpsimError(EINVAL, `${this.who()} lookupU64: offset ${off}: a u64 there does not fit value_size ${this.valueSize}`);
    }
    const v = this.lookup(key);
    if (v === null) return null;
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    if (!this.percpu) return dv.getUint32(off + 4, true) * TWO32 + dv.getUint32(off, true);
    let sum = 0;
    for (let c = 0; c < this.ncpus; c++) {
      const o = c * this.stride + off;
      sum += dv.getUint32(o + 4, true) * TWO32 + dv.getUint32(o, true);
    }
    return sum;
  }

  /* ---- helpers ---- */

  private who(): string {
    return `map '${this.name}' (id ${this.id})`;
  }

  private checkKey(op: string, key: unknown): void {
    const p = keyProblem(key, this.keySize);
    if (p !== null) throw new XdpsimError(EINVAL, `${this.who()} ${op}: ${p}`);
  }

  private encodeValue(value: unknown): Uint8Array {
    const vs = this.valueSize;
    if (value instanceof Uint8Array) {
      if (!this.percpu) {
        if (value.length !== vs) throw this.badValue(`value has ${value.length} bytes, value_size is ${vs}`);
        return value;
      }
      if (value.length === this.sysValueSize) return value;
      if (value.length === vs) return this.replicate(value);
      throw this.badValue(`value has ${value.length} bytes: give value_size (${vs}) bytes for every CPU, or ` +
        `${this.sysValueSize} bytes (${this.ncpus} CPUs x round_up(value_size, 8) = ${this.stride}), one value per CPU`);
    }
    if (typeof value === 'number' || typeof value === 'bigint') {
      if (vs !== 4 && vs !== 8) {
        throw this.badValue(`a ${typeof value} value needs value_size 4 or 8, this map has ${vs}; pass a Uint8Array`);
      }
      const one = new Uint8Array(vs);
      const dv = new DataView(one.buffer);
      if (typeof value === 'number') {
        const max = vs === 4 ? 0xffffffff : Number.MAX_SAFE_INTEGER;
        if (!Number.isInteger(value) || value < 0 || value > max) {
          throw this.badValue(`value ${value} is not a u${vs * 8}${vs === 8 ? ' representable exactly as a number (use a bigint)' : ''}`);
        }
        if (vs === 4) dv.setUint32(0, value, true);
        else {
          const hi = Math.floor(value / TWO32);
          dv.setUint32(0, value - hi * TWO32, true);
          dv.setUint32(4, hi, true);
        }
      } else {
        if (value < 0n || value >= 1n << BigInt(vs * 8)) throw this.badValue(`value ${value} is not a u${vs * 8}`);
        if (vs === 4) dv.setUint32(0, Number(value), true);
        else dv.setBigUint64(0, value, true);
      }
      return this.percpu ? this.replicate(one) : one;
    }
    throw this.badValue(`value must be a Uint8Array, a number or a bigint, not ${describeType(value)}`);
  }

  private replicate(one: Uint8Array): Uint8Array {
    const all = new Uint8Array(this.sysValueSize);
    for (let c = 0; c < this.ncpus; c++) all.set(one, c * this.stride);
    return all;
  }

  private badValue(msg: string): XdpsimError {
    return new XdpsimError(EINVAL, `${this.who()} update: ${msg}`);
  }

  /** The XdpsimError for errno `r` from `op`: says which argument was wrong, and why. */
  private fail(op: string, r: number, key: MapKey | null, flags?: number): XdpsimError {
    return new XdpsimError(r, `${this.who()} ${op}: ${this.reason(op, -r, key, flags)}`);
  }

  private reason(op: string, err: number, key: MapKey | null, flags?: number): string {
    /* a map type that knows better says why itself */
    const why = (this.map as { why?: unknown }).why;
    if (typeof why === 'string' && why !== '') return why;
    const k = key === null ? 'null' : formatKey(key, this.keySize);
    const max = this.maxEntries;
    const tname = mapTypeName(this.type);
    switch (err) {
      case EPERM:
        return op === 'update' || op === 'delete'
          ? 'the map was created with BPF_F_RDONLY: user space may not write it'
          : 'the map was created with BPF_F_WRONLY: user space may not read it';
      case EBUSY:
        return `key ${k}: a lock of the map was held for over ${LOCK_TIMEOUT_MS} ms (did a CPU die inside an update?)`;
      case EFAULT:
        return `a buffer is shorter than the ${this.sysValueSize} bytes bpf(2) copies`;
      default:
        break;
    }
    if (op === 'update') {
      const f = flags ?? BPF_ANY;
      switch (err) {
        case EINVAL: {
          const fu = flagsU32(f);
          if (fu >= 0 && (fu & BPF_F_LOCK)) {
            return `flags ${formatFlags(f)}: BPF_F_LOCK needs a struct bpf_spin_lock in the value, and xdpsim map values have none`;
          }
          if (fu < 0 || !(this.percpu ? plainFlagsOk(fu) : lockableFlagsOk(fu))) {
            return `flags ${formatFlags(f)} unknown: use BPF_ANY, BPF_NOEXIST or BPF_EXIST`;
          }
          return `rejected by ${tname} (EINVAL)`;
        }
        case E2BIG:
          return this.isArray
            ? `key ${k} >= max_entries ${max}`
            : `the map is full: all ${max} elements (max_entries) are in use, key ${k} cannot be added`;
        case EEXIST:
          return this.isArray
            ? `flags BPF_NOEXIST: key ${k} exists (every element of an array always exists)`
            : `flags BPF_NOEXIST: key ${k} already exists`;
        case ENOENT:
          return `flags BPF_EXIST: key ${k} does not exist`;
        default:
          return `key ${k}, flags ${formatFlags(f)}: errno ${err}`;
      }
    }
    if (op === 'delete') {
      if (err === EINVAL && this.isArray) return `key ${k}: elements of ${tname} cannot be deleted (store zeros instead)`;
      if (err === ENOENT) return `key ${k} does not exist`;
    }
    return `key ${k}: errno ${err}`;
  }
}

/* every failure of a map handle's methods is an XdpsimError (src/shared/api-guard.ts): a key that throws when read, too */
guardApi(MapHandle.prototype, 'MapHandle', ['lookup', 'lookupPerCpu', 'update', 'delete', 'getNextKey', 'lookupU64']);
