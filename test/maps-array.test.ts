// BPF_MAP_TYPE_ARRAY: creation checks (array_map_alloc_check, map_create),
// the data-path helpers, the bpf(2) rules, MapValue accessors and MapHandle
// messages. Per-CPU arrays are in maps-percpu.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  E2BIG, EACCES, EEXIST, EFAULT, EINVAL, ENOENT, ENOMEM, EPERM, XdpsimError,
} from '../src/shared/errno.ts';
import {
  BPF_ANY, BPF_EXIST, BPF_F_INNER_MAP, BPF_F_LOCK, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE,
  BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_F_WRONLY_PROG, BPF_F_ZERO_SEED,
  BPF_MAP_TYPE_ARRAY, BPF_NOEXIST,
} from '../src/shared/uapi.ts';
import { createMapShared, openMap, type MapSpec } from '../src/maps/map.ts';
import { MapHandle } from '../src/maps/handle.ts';
import { MapValue } from '../src/maps/value.ts';
import { throwsErrno, u32le } from './maps-helpers.ts';

const NCPUS = 2;

function arraySpec(over: Partial<MapSpec> = {}): MapSpec {
  return { type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 256, name: 'tx_port', ...over };
}

function mk(over: Partial<MapSpec> = {}, id = 3) {
  return openMap(createMapShared(arraySpec(over), id, NCPUS));
}

test('create: the attributes array_map_alloc_check refuses', () => {
  throwsErrno(() => mk({ keySize: 8 }), EINVAL, /map 'tx_port' create: key_size 8/);
  throwsErrno(() => mk({ keySize: 0 }), EINVAL, /key_size 0/);
  throwsErrno(() => mk({ valueSize: 0 }), EINVAL, /value_size 0/);
  throwsErrno(() => mk({ maxEntries: 0 }), EINVAL, /max_entries 0/);
  throwsErrno(() => mk({ keySize: -1 }), EINVAL, /key_size -1 is not a u32/);
  throwsErrno(() => mk({ maxEntries: 1.5 }), EINVAL, /max_entries 1.5 is not a u32/);
  throwsErrno(() => mk({ valueSize: 2 ** 31 }), E2BIG, /value_size 2147483648 > INT_MAX/);
  // big enough to pass the kernel's checks, too big to allocate
  throwsErrno(() => mk({ valueSize: 8, maxEntries: 2 ** 30 }), ENOMEM, /create:/);
});

test('create: map_flags an array accepts and refuses', () => {
  for (const f of [BPF_F_NUMA_NODE, BPF_F_MMAPABLE, BPF_F_INNER_MAP, BPF_F_RDONLY, BPF_F_WRONLY,
    BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG]) {
    assert.equal(mk({ mapFlags: f }).shared.mapFlags, f);
  }
  throwsErrno(() => mk({ mapFlags: BPF_F_NO_PREALLOC }), EINVAL, /map_flags 0x1: bits 0x1 are not accepted by BPF_MAP_TYPE_ARRAY/);
  throwsErrno(() => mk({ mapFlags: BPF_F_ZERO_SEED }), EINVAL, /bits 0x40/);
  throwsErrno(() => mk({ mapFlags: BPF_F_PRESERVE_ELEMS }), EINVAL, /BPF_F_PRESERVE_ELEMS is only for BPF_MAP_TYPE_PERF_EVENT_ARRAY/);
  throwsErrno(() => mk({ mapFlags: BPF_F_RDONLY | BPF_F_WRONLY }), EINVAL, /BPF_F_RDONLY and BPF_F_WRONLY together/);
  throwsErrno(() => mk({ mapFlags: BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG }), EINVAL, /BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG/);
  throwsErrno(() => mk({ mapFlags: 1 << 20 }), EINVAL, /bits 0x100000/);
});

test('create: map types and names', () => {
  throwsErrno(() => mk({ type: 11 }), EINVAL, /BPF_MAP_TYPE_LPM_TRIE is not supported by createMapShared/);
  throwsErrno(() => mk({ type: 99 }), EINVAL, /map_type 99: no such map type/);
  throwsErrno(() => mk({ type: 0 }), EINVAL, /no such map type/);
  assert.equal(mk({ name: 'abcdefghijklmno' }).shared.name, 'abcdefghijklmno');
  assert.equal(mk({ name: '.rodata' }).shared.name, '.rodata');
  assert.equal(mk({ name: undefined }).shared.name, '');
  throwsErrno(() => mk({ name: 'abcdefghijklmnop' }), EINVAL, /longer than 15 characters/);
  throwsErrno(() => mk({ name: 'tx-port' }), EINVAL, /only letters, digits/);
  // the type's checks come before the name's, as in map_create()
  throwsErrno(() => mk({ name: 'tx-port', keySize: 2 }), EINVAL, /key_size 2/);
  throwsErrno(() => createMapShared(arraySpec(), 1, 0), EINVAL, /ncpus 0/);
});

test('a new array is zero-filled; elements live round_up(value_size, 8) apart', () => {
  const s = createMapShared(arraySpec({ valueSize: 6, maxEntries: 4 }), 1, NCPUS);
  assert.equal(s.buffers.length, 1);
  assert.equal(s.buffers[0]!.byteLength, 4 * 8);
  const m = openMap(s);
  const v = m.lookupElem(3, 0)!;
  assert.deepEqual([...v.bytes], [0, 0, 0, 0, 0, 0]);
  assert.equal(v.byteOffset, 24);
  // an update copies value_size bytes and leaves the padding alone
  assert.equal(m.updateElem(2, new Uint8Array([1, 2, 3, 4, 5, 6]), BPF_ANY, 0), 0);
  assert.deepEqual([...new Uint8Array(s.buffers[0]!, 16, 8)], [1, 2, 3, 4, 5, 6, 0, 0]);
});

test('data path: lookup in range gives a cached view, out of range null; a bad key throws', () => {
  const m = mk();
  const v = m.lookupElem(255, 0);
  assert.ok(v instanceof MapValue);
  assert.equal(m.lookupElem(255, 1), v, 'same view whatever the cpu, for a shared array');
  assert.equal(m.lookupElem(u32le(255), 0), v, 'a 4-byte little-endian key is the same key');
  assert.equal(m.lookupElem(256, 0), null);
  assert.equal(m.lookupElem(0xffffffff, 0), null);
  throwsErrno(() => m.lookupElem(-1, 0), EINVAL, /from a program: key -1 is not a u32/);
  throwsErrno(() => m.lookupElem(1.5, 0), EINVAL, /key 1.5 is not a u32/);
  throwsErrno(() => m.lookupElem(new Uint8Array(3), 0), EINVAL, /key has 3 bytes, key_size is 4/);
});

test('data path: update follows array_map_update_elem, in order', () => {
  const m = mk();
  const val = new Uint8Array(8).fill(7);
  assert.equal(m.updateElem(5, val, BPF_ANY, 0), 0);
  assert.equal(m.updateElem(5, val, BPF_EXIST, 1), 0);
  assert.equal(m.updateElem(5, val, BPF_NOEXIST, 0), -EEXIST);
  assert.equal(m.updateElem(300, val, BPF_ANY, 0), -E2BIG);
  assert.equal(m.updateElem(256, val, BPF_ANY, 0), -E2BIG);
  assert.equal(m.updateElem(5, val, 3, 0), -EINVAL, 'BPF_NOEXIST|BPF_EXIST is unknown');
  assert.equal(m.updateElem(5, val, 8, 0), -EINVAL);
  assert.equal(m.updateElem(5, val, 2 ** 32, 0), -EINVAL);
  assert.equal(m.updateElem(5, val, -1, 0), -EINVAL);
  // BPF_F_LOCK is checked after the index and BPF_NOEXIST
  assert.equal(m.updateElem(5, val, BPF_F_LOCK, 0), -EINVAL);
  assert.equal(m.updateElem(300, val, BPF_F_LOCK, 0), -E2BIG);
  assert.equal(m.updateElem(5, val, BPF_NOEXIST | BPF_F_LOCK, 0), -EEXIST);
  assert.equal(m.updateElem(5, val, 8, 0), -EINVAL, 'unknown flags come first');
  // the value went in
  assert.deepEqual([...m.lookupElem(5, 0)!.bytes], [7, 7, 7, 7, 7, 7, 7, 7]);
  // a longer buffer: the first value_size bytes
  assert.equal(m.updateElem(6, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), BPF_ANY, 0), 0);
  assert.deepEqual([...m.lookupElem(6, 0)!.bytes], [1, 2, 3, 4, 5, 6, 7, 8]);
  throwsErrno(() => m.updateElem(5, new Uint8Array(4), BPF_ANY, 0), EINVAL, /value has 4 bytes, value_size is 8/);
  throwsErrno(() => m.updateElem(-3, val, BPF_ANY, 0), EINVAL, /key -3/);
});

test('data path: array elements cannot be deleted', () => {
  const m = mk();
  assert.equal(m.deleteElem(0, 0), -EINVAL);
  assert.equal(m.deleteElem(1000, 0), -EINVAL);
});

test('BPF_F_RDONLY_PROG: programs cannot write (the verifier says EACCES), user space can', () => {
  const m = mk({ mapFlags: BPF_F_RDONLY_PROG });
  assert.equal(m.updateElem(1, new Uint8Array(8), BPF_ANY, 0), -EACCES);
  assert.equal(m.deleteElem(1, 0), -EACCES);
  assert.equal(m.sysUpdate(1, new Uint8Array(8).fill(9), BPF_ANY), 0);
  assert.equal(m.lookupElem(1, 0)!.bytes[0], 9);
});

test('MapValue: plain and atomic accessors, little endian', () => {
  const m = mk({ valueSize: 24 });
  const v = m.lookupElem(7, 0)!;
  v.setU32(0, 0xdeadbeef);
  assert.equal(v.getU32(0), 0xdeadbeef);
  assert.deepEqual([...v.bytes.subarray(0, 4)], [0xef, 0xbe, 0xad, 0xde]);
  v.setU64(8, 2 ** 40 + 5);
  assert.equal(v.getU64(8), 2 ** 40 + 5);
  assert.equal(v.view.getUint32(12, true), 256);
  v.addU64(8, 2 ** 32 - 5);
  assert.equal(v.getU64(8), 2 ** 40 + 2 ** 32);
  v.setU64(16, 0xffffffff);
  assert.equal(v.atomicAddU64(16, 1), 0xffffffff);
  assert.equal(v.getU64(16), 2 ** 32, 'the carry reaches the high word');
  assert.equal(v.atomicLoadU64(16), 2 ** 32);
  assert.equal(v.atomicAddU32(4, 3), 0);
  assert.equal(v.atomicAddU32(4, 0xffffffff), 3, 'adding 2^32-1 is subtracting 1');
  assert.equal(v.getU32(4), 2);
  throwsErrno(() => v.atomicAddU64(4, 1), EINVAL, /atomic u64 access at offset 4 .* 8-byte aligned/);
  throwsErrno(() => v.atomicAddU64(24, 1), EINVAL, /inside the value/);
  throwsErrno(() => v.atomicAddU32(2, 1), EINVAL, /4-byte aligned/);
  assert.throws(() => v.getU32(22), RangeError, 'plain accessors stay inside the value');
  // the next element was not touched
  assert.deepEqual([...m.lookupElem(8, 0)!.bytes], new Array(24).fill(0));
});

test('two opens of one map (two threads\' views) see the same memory', () => {
  const s = createMapShared(arraySpec(), 9, NCPUS);
  const a = openMap(s);
  const b = openMap(s);
  a.lookupElem(10, 0)!.setU64(0, 1234);
  assert.equal(b.lookupElem(10, 1)!.getU64(0), 1234);
  assert.notEqual(a.lookupElem(10, 0), b.lookupElem(10, 0), 'views are per open');
});

test('bpf(2): lookup, update, delete, get_next_key', () => {
  const m = mk({ maxEntries: 4 });
  const out = new Uint8Array(8);
  assert.equal(m.sysUpdate(2, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), BPF_ANY), 0);
  assert.equal(m.sysLookup(2, out), 0);
  assert.deepEqual([...out], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(m.sysLookup(4, out), -ENOENT);
  assert.equal(m.sysLookup(2, new Uint8Array(7)), -EFAULT);
  assert.equal(m.sysLookup(4, new Uint8Array(7)), -ENOENT, 'ENOENT before the copy out');
  assert.equal(m.sysLookup(new Uint8Array(5), out), -EINVAL);
  assert.equal(m.sysUpdate(4, out, BPF_ANY), -E2BIG);
  assert.equal(m.sysUpdate(1, out, BPF_NOEXIST), -EEXIST);
  assert.equal(m.sysUpdate(1, out, BPF_EXIST), 0);
  assert.equal(m.sysUpdate(1, out, 3), -EINVAL);
  assert.equal(m.sysUpdate(1, new Uint8Array(7), BPF_ANY), -EFAULT);
  // map_update_elem() checks BPF_F_LOCK before the map type does anything
  assert.equal(m.sysUpdate(4, out, BPF_F_LOCK), -EINVAL);
  assert.equal(m.sysUpdate(1, out, BPF_NOEXIST | BPF_F_LOCK), -EINVAL);
  assert.equal(m.sysDelete(1), -EINVAL);
  assert.equal(m.sysDelete(99), -EINVAL);
  const k = new Uint8Array(4);
  const dv = new DataView(k.buffer);
  assert.equal(m.sysGetNextKey(null, k), 0);
  assert.equal(dv.getUint32(0, true), 0);
  assert.equal(m.sysGetNextKey(0, k), 0);
  assert.equal(dv.getUint32(0, true), 1);
  assert.equal(m.sysGetNextKey(u32le(2), k), 0);
  assert.equal(dv.getUint32(0, true), 3);
  assert.equal(m.sysGetNextKey(3, k), -ENOENT);
  k.fill(0xaa);
  assert.equal(m.sysGetNextKey(1000, k), 0, 'a key past the end restarts at 0');
  assert.equal(dv.getUint32(0, true), 0);
  assert.equal(m.sysGetNextKey(1, new Uint8Array(2)), -EFAULT);
});

test('bpf(2): the creating fd\'s mode (BPF_F_RDONLY / BPF_F_WRONLY)', () => {
  const ro = mk({ mapFlags: BPF_F_RDONLY });
  const out = new Uint8Array(8);
  assert.equal(ro.sysUpdate(1, out, BPF_ANY), -EPERM);
  assert.equal(ro.sysDelete(1), -EPERM);
  assert.equal(ro.sysLookup(1, out), 0);
  assert.equal(ro.sysGetNextKey(null, new Uint8Array(4)), 0);
  assert.equal(ro.updateElem(1, out, BPF_ANY, 0), 0, 'programs may still write');
  const wo = mk({ mapFlags: BPF_F_WRONLY });
  assert.equal(wo.sysLookup(1, out), -EPERM);
  assert.equal(wo.sysGetNextKey(null, new Uint8Array(4)), -EPERM);
  assert.equal(wo.sysUpdate(1, out, BPF_ANY), 0);
});

test('MapHandle: values, keys, and messages that name the map, the operation and the argument', () => {
  const h = new MapHandle(mk({ maxEntries: 4 }, 3));
  assert.equal(h.id, 3);
  assert.equal(h.name, 'tx_port');
  assert.equal(h.type, BPF_MAP_TYPE_ARRAY);
  assert.deepEqual([h.keySize, h.valueSize, h.maxEntries], [4, 8, 4]);
  h.update(1, 2 ** 40 + 1);
  assert.equal(h.lookupU64(1), 2 ** 40 + 1);
  h.update(2, 5n);
  assert.equal(h.lookupU64(2), 5);
  h.update(3, new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0]));
  assert.deepEqual([...h.lookup(3)!], [1, 0, 0, 0, 2, 0, 0, 0]);
  assert.equal(h.lookupU64(3), 2 * 2 ** 32 + 1);
  assert.equal(h.lookup(4), null);
  assert.equal(h.lookupU64(4), null);
  assert.deepEqual([...h.keys()].map((k) => new DataView(k.buffer).getUint32(0, true)), [0, 1, 2, 3]);
  assert.deepEqual([...h.getNextKey(null)!], [0, 0, 0, 0]);
  assert.equal(h.getNextKey(3), null);

  const big = new MapHandle(mk({ maxEntries: 256 }, 3));
  throwsErrno(() => big.update(300, 1), E2BIG, /^E2BIG: map 'tx_port' \(id 3\) update: key 300 >= max_entries 256$/);
  throwsErrno(() => big.update(3, 1, BPF_NOEXIST), EEXIST, /update: flags BPF_NOEXIST: key 3 exists/);
  throwsErrno(() => big.update(3, 1, 16), EINVAL, /update: flags BPF_ANY\|0x10 unknown/);
  throwsErrno(() => big.update(3, 1, BPF_F_LOCK), EINVAL, /BPF_F_LOCK needs a struct bpf_spin_lock/);
  throwsErrno(() => big.delete(3), EINVAL, /delete: key 3: elements of BPF_MAP_TYPE_ARRAY cannot be deleted/);
  throwsErrno(() => big.update(-1, 1), EINVAL, /update: key -1 is not a u32/);
  throwsErrno(() => big.update(new Uint8Array(8), 1), EINVAL, /key has 8 bytes, key_size is 4/);
  throwsErrno(() => big.update(1, new Uint8Array(4)), EINVAL, /value has 4 bytes, value_size is 8/);
  throwsErrno(() => big.update(1, -5), EINVAL, /value -5 is not a u64/);
  throwsErrno(() => big.update(1, 2 ** 64), EINVAL, /not a u64/);
  throwsErrno(() => big.update(1, 1n << 64n), EINVAL, /not a u64/);
  throwsErrno(() => big.lookupU64(1, 4), EINVAL, /offset 4/);
  throwsErrno(() => big.lookupPerCpu(1), EINVAL, /is not a per-CPU map/);
  const e = (() => { try { big.update(300, 1); } catch (err) { return err as XdpsimError; } return null; })()!;
  assert.equal(e.code, 'E2BIG');
  assert.equal(e.errno, E2BIG);

  const ro = new MapHandle(mk({ mapFlags: BPF_F_RDONLY, name: 'cfg' }, 7));
  throwsErrno(() => ro.update(0, 1), EPERM, /map 'cfg' \(id 7\) update: the map was created with BPF_F_RDONLY/);
  const wo = new MapHandle(mk({ mapFlags: BPF_F_WRONLY, name: 'cfg' }, 7));
  throwsErrno(() => wo.lookup(0), EPERM, /lookup: the map was created with BPF_F_WRONLY/);

  const u32map = new MapHandle(mk({ valueSize: 4 }));
  u32map.update(0, 0xffffffff);
  assert.deepEqual([...u32map.lookup(0)!], [255, 255, 255, 255]);
  throwsErrno(() => u32map.update(0, 2 ** 32), EINVAL, /value 4294967296 is not a u32/);
  throwsErrno(() => u32map.lookupU64(0), EINVAL, /does not fit value_size 4/);
  const wide = new MapHandle(mk({ valueSize: 16 }));
  throwsErrno(() => wide.update(0, 1), EINVAL, /a number value needs value_size 4 or 8, this map has 16/);
});
