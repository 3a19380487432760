/*
 * BPF_MAP_TYPE_XSKMAP (net/xdp/xskmap.c): an array of AF_XDP sockets, the
 * target of bpf_redirect_map(xsks_map, ctx.rx_queue_index, XDP_PASS).
 *
 * A slot holds a socket's id (its "fd": xdpsim has no file descriptors), 0
 * for none. Socket ids are never reused, so a slot can only name the socket
 * it was set to: a CPU that read it inside a poll finds that socket (or,
 * once it is closed, an unbound socket: -ENXIO), which is what the kernel's
 * reference counting of xdp_sock over RCU gives. A closed socket's state is
 * freed by the runtime after a grace period.
 *
 * Concurrency: user space writes slots (Atomics.exchange, or a
 * compare-and-exchange when a closing socket removes itself), one writer
 * (the control plane); CPUs read them with plain loads inside a poll.
 */
import { E2BIG, EBADF, EEXIST, EFAULT, EINVAL, ENOENT, EOPNOTSUPP, EPERM } from '../shared/errno.ts';
import { BPF_EXIST, BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY, BPF_NOEXIST } from '../shared/uapi.ts';
import { MapBase, allocShared, indexGetNextKey, mapShared, u32Key } from './common.ts';
import type { BpfMap, MapKey, MapShared, MapSpecChecked } from './map.ts';
import { ReadOnlyMapValue, type MapValue } from './value.ts';

const H_ITEMS = 0;
const HDR = 8;

export interface XskmapControl {
  /** sockfd_lookup(): a socket with this id exists and is not closed */
  xskOk(id: number): boolean;
}

export function xskmapAllocCheck(attr: MapSpecChecked, fail: (errno: number, msg: string) => never): void {
  if (attr.maxEntries === 0) fail(EINVAL, 'max_entries must be > 0');
  if (attr.keySize !== 4) fail(EINVAL, `key_size ${attr.keySize}: an xskmap key is a u32 (4)`);
  if (attr.valueSize !== 4) fail(EINVAL, `value_size ${attr.valueSize}: an xskmap value is a socket fd (4)`);
  if ((attr.mapFlags & ~(BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY)) !== 0) {
    fail(EINVAL, `map_flags 0x${attr.mapFlags.toString(16)}: an xskmap takes only BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY`);
  }
}

export function xskmapAlloc(attr: MapSpecChecked, id: number, ncpus: number, fail: (errno: number, msg: string) => never): MapShared {
  const sab = allocShared(4 * (HDR + attr.maxEntries), `xskmap '${attr.name}'`, fail);
  return mapShared(attr, id, ncpus, [sab]);
}

export class XskMap extends MapBase implements BpfMap {
  readonly a: Int32Array;
  private control: XskmapControl | null = null;
  /* what a program's lookup returns: a read-only view of the socket's id, per thread */
  private readonly copy = new SharedArrayBuffer(8);
  private readonly copyU32 = new Uint32Array(this.copy);
  private readonly copyU64 = new BigUint64Array(this.copy);
  private readonly value: ReadOnlyMapValue;

  constructor(shared: MapShared) {
    super(shared);
    this.a = new Int32Array(shared.buffers[0]!);
    this.value = new ReadOnlyMapValue(this.copy, 0, 4, this.copyU32, this.copyU64, `map '${this.name}' (id ${this.id})`);
  }

  get sysValueSize(): number {
    return 4;
  }

  bindControl(c: XskmapControl): void {
    this.control = c;
  }

  /** __xsk_map_lookup_elem(): the socket's id, or 0. */
  lookupSock(key: number): number {
    if (!(key >= 0 && key < this.maxEntries)) return 0;
    return this.a[HDR + key]!;
  }

  /** bpf_map_lookup_elem() from a program: non-NULL when a socket is there (xdp-tools' programs test it before redirecting). */
  lookupElem(key: MapKey, _cpu: number): MapValue | null {
    const k = u32Key(key);
    if (k < 0) throw this.badKey('lookup', key);
    const id = this.lookupSock(k);
    if (id === 0) return null;
    this.copyU32[0] = id;
    return this.value;
  }
  updateElem(_key: MapKey, _value: Uint8Array, _flags: number, _cpu: number): number {
    throw this.progBug('update', 'an xskmap can only be updated from user space');
  }
  deleteElem(_key: MapKey, _cpu: number): number {
    throw this.progBug('delete', 'an xskmap can only be changed from user space');
  }


  /* xsk_map_update_elem() */
  sysUpdate(key: MapKey, value: Uint8Array, flags: number): number {
    this.why = '';
    const f = this.sysUpdateFlags(flags);
    if (f < 0) return f;
    const k = u32Key(key);
    if (k < 0) return -EINVAL;
    if (!(value instanceof Uint8Array) || value.length < 4) return -EFAULT;
    const fd = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true);
    if (f > BPF_EXIST) return this.err(EINVAL, `flags ${f}: use BPF_ANY, BPF_NOEXIST or BPF_EXIST`);
    if (k >= this.maxEntries) return this.err(E2BIG, `key ${k} >= max_entries ${this.maxEntries}`);
    if (fd === 0 || this.control === null || !this.control.xskOk(fd)) return this.err(EBADF, `value: ${fd} is not an open AF_XDP socket (xdpsim takes the socket's id as its fd)`);
    const slot = HDR + k;
    const old = Atomics.load(this.a, slot);
    if (old === fd) return 0;
    if (old !== 0 && f === BPF_NOEXIST) return this.err(EEXIST, `flags BPF_NOEXIST: key ${k} holds socket ${old}`);
    if (old === 0 && f === BPF_EXIST) return this.err(ENOENT, `flags BPF_EXIST: key ${k} is empty`);
    Atomics.store(this.a, slot, fd);
    if (old === 0) Atomics.add(this.a, H_ITEMS, 1);
    return 0;
  }

  /* xsk_map_delete_elem() */
  sysDelete(key: MapKey): number {
    const k = this.sysDeleteKey(key);
    if (k < 0) return k;
    if (k >= this.maxEntries) return this.err(EINVAL, `key ${k} >= max_entries ${this.maxEntries}`);
    if (Atomics.exchange(this.a, HDR + k, 0) !== 0) Atomics.sub(this.a, H_ITEMS, 1);
    return 0;
  }

  /* xsk_map_lookup_elem_sys_only(): user space cannot read an xskmap */
  sysLookup(_key: MapKey, _out: Uint8Array): number {
    this.why = 'an xskmap cannot be read from user space (the kernel returns EOPNOTSUPP)';
    return -EOPNOTSUPP;
  }

  /* xsk_map_get_next_key(): a walk over indexes */
  sysGetNextKey(key: MapKey | null, out: Uint8Array): number {
    if (!this.sysCanRead) return -EPERM;
    return indexGetNextKey(key, out, this.maxEntries);
  }

  /** xsk_map_try_sock_delete(): a closing socket leaves every slot that still holds it. */
  removeSock(id: number): number {
    let n = 0;
    for (let k = 0; k < this.maxEntries; k++) {
      if (Atomics.compareExchange(this.a, HDR + k, id, 0) === id) {
        Atomics.sub(this.a, H_ITEMS, 1);
        n++;
      }
    }
    return n;
  }
}
