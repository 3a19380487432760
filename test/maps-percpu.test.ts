// BPF_MAP_TYPE_PERCPU_ARRAY and BPF_MAP_TYPE_PERCPU_HASH: one value per CPU,
// programs see their CPU's copy, user space sees ncpus values each
// round_up(value_size, 8) bytes apart (bpf_percpu_*_copy / _update).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E2BIG, EEXIST, EFAULT, EINVAL, ENOENT } from '../src/shared/errno.ts';
import {
  BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_F_MMAPABLE, BPF_F_NUMA_NODE, BPF_F_NO_PREALLOC, BPF_F_INNER_MAP,
  BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_NOEXIST,
} from '../src/shared/uapi.ts';
import { createMapShared, openMap, type MapSpec } from '../src/maps/map.ts';
import { ArrayMap } from '../src/maps/array.ts';
import { HashMap } from '../src/maps/hash.ts';
import { MapHandle } from '../src/maps/handle.ts';
import { throwsErrno } from './maps-helpers.ts';

const NCPUS = 4;

function pa(over: Partial<MapSpec> = {}): ArrayMap {
  const m = openMap(createMapShared({ type: BPF_MAP_TYPE_PERCPU_ARRAY, keySize: 4, valueSize: 12, maxEntries: 8, name: 'pcpu_cnt', ...over }, 11, NCPUS));
  assert.ok(m instanceof ArrayMap);
  return m;
}

function ph(over: Partial<MapSpec> = {}): HashMap {
  const m = openMap(createMapShared({ type: BPF_MAP_TYPE_PERCPU_HASH, keySize: 4, valueSize: 12, maxEntries: 4, name: 'pcpu_h', ...over }, 12, NCPUS));
  assert.ok(m instanceof HashMap);
  return m;
}

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

test('create: per-CPU values are limited to PCPU_MIN_UNIT_SIZE, and take no NUMA node', () => {
  for (const type of [BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH]) {
    const spec = { type, keySize: 4, maxEntries: 1, name: 'p' };
    assert.ok(createMapShared({ ...spec, valueSize: 32768 }, 1, 2));
    assert.ok(createMapShared({ ...spec, valueSize: 32761 }, 1, 2), 'rounds up to 32768');
    throwsErrno(() => createMapShared({ ...spec, valueSize: 32769 }, 1, 2), E2BIG, /limited to PCPU_MIN_UNIT_SIZE \(32768\)/);
    throwsErrno(() => createMapShared({ ...spec, valueSize: 8, mapFlags: BPF_F_NUMA_NODE }, 1, 2), EINVAL, /BPF_F_NUMA_NODE is meaningless/);
  }
  throwsErrno(() => pa({ mapFlags: BPF_F_MMAPABLE }), EINVAL, /only for BPF_MAP_TYPE_ARRAY/);
  throwsErrno(() => pa({ mapFlags: BPF_F_INNER_MAP }), EINVAL, /only for BPF_MAP_TYPE_ARRAY/);
  assert.equal(ph({ mapFlags: BPF_F_NO_PREALLOC }).mapFlags, BPF_F_NO_PREALLOC);
  // a PERCPU_HASH has no spare elements: max_entries of them, and a per-CPU value area
  const s = createMapShared({ type: BPF_MAP_TYPE_PERCPU_HASH, keySize: 4, valueSize: 12, maxEntries: 4, name: 'p' }, 1, NCPUS);
  assert.equal(s.buffers.length, 4);
  assert.equal(s.buffers[3]!.byteLength, 4 * 16 * NCPUS);
  const a = createMapShared({ type: BPF_MAP_TYPE_PERCPU_ARRAY, keySize: 4, valueSize: 12, maxEntries: 8, name: 'p' }, 1, NCPUS);
  assert.equal(a.buffers[0]!.byteLength, 8 * 16 * NCPUS);
});

test('PERCPU_ARRAY data path: each CPU has its own copy', () => {
  const m = pa();
  const v = [0, 1, 2, 3].map((c) => m.lookupElem(5, c)!);
  assert.equal(new Set(v).size, 4);
  v[2]!.addU64(0, 7);
  v[2]!.addU64(0, 7);
  assert.deepEqual(v.map((x) => x.getU64(0)), [0, 0, 14, 0]);
  assert.equal(m.updateElem(5, bytes(12, 9), BPF_ANY, 1), 0);
  assert.deepEqual([...v[1]!.bytes], new Array(12).fill(9));
  assert.deepEqual([...v[0]!.bytes], new Array(12).fill(0), 'only the caller\'s CPU is written');
  assert.equal(m.lookupElem(5, 1), v[1], 'cached per (cpu, key)');
  assert.equal(m.lookupElem(8, 0), null);
  assert.equal(m.updateElem(8, bytes(12, 1), BPF_ANY, 0), -E2BIG);
  assert.equal(m.updateElem(5, bytes(12, 1), BPF_NOEXIST, 0), -EEXIST);
  assert.equal(m.updateElem(5, bytes(12, 1), BPF_F_LOCK, 0), -EINVAL, 'array_map_update_elem: no spin lock');
  assert.equal(m.updateElem(5, bytes(12, 1), 3, 0), -EINVAL);
  assert.equal(m.deleteElem(5, 0), -EINVAL);
  throwsErrno(() => m.lookupElem(5, 4), EINVAL, /cpu 4 does not exist \(ncpus 4\)/);
  throwsErrno(() => m.updateElem(5, bytes(12, 1), BPF_ANY, -1), EINVAL, /cpu -1 does not exist/);
  // bpf_map_lookup_percpu_elem
  assert.equal(m.lookupPercpuElem(5, 2), v[2]);
  assert.equal(m.lookupPercpuElem(5, 4), null);
  assert.equal(m.lookupPercpuElem(9, 0), null);
});

test('PERCPU_ARRAY bpf(2): ncpus values of round_up(value_size, 8) bytes, padding included', () => {
  const m = pa();
  m.lookupElem(3, 0)!.setU32(0, 100);
  m.lookupElem(3, 3)!.setU32(8, 333);
  const out = new Uint8Array(NCPUS * 16);
  assert.equal(m.sysLookup(3, out), 0);
  const dv = new DataView(out.buffer);
  assert.equal(dv.getUint32(0, true), 100);
  assert.equal(dv.getUint32(3 * 16 + 8, true), 333);
  assert.equal(m.sysLookup(3, new Uint8Array(NCPUS * 16 - 1)), -EFAULT);
  assert.equal(m.sysLookup(3, new Uint8Array(NCPUS * 12)), -EFAULT, 'not ncpus * value_size');
  assert.equal(m.sysLookup(8, out), -ENOENT);
  // update: every CPU's value from its 16-byte slot, the 4 padding bytes too
  const val = new Uint8Array(NCPUS * 16);
  for (let i = 0; i < val.length; i++) val[i] = i;
  assert.equal(m.sysUpdate(4, val, BPF_ANY), 0);
  for (let c = 0; c < NCPUS; c++) assert.deepEqual([...m.lookupElem(4, c)!.bytes], [...val.subarray(c * 16, c * 16 + 12)]);
  const back = new Uint8Array(NCPUS * 16);
  assert.equal(m.sysLookup(4, back), 0);
  assert.deepEqual(back, val, 'the padding comes back as user space wrote it');
  assert.equal(m.sysUpdate(4, val, BPF_NOEXIST), -EEXIST);
  assert.equal(m.sysUpdate(8, val, BPF_ANY), -E2BIG);
  assert.equal(m.sysUpdate(4, val, 3), -EINVAL);
  assert.equal(m.sysUpdate(4, val, BPF_F_LOCK), -EINVAL);
  assert.equal(m.sysUpdate(4, new Uint8Array(12), BPF_ANY), -EFAULT, 'one value is not enough');
  assert.equal(m.sysDelete(4), -EINVAL);
});

test('PERCPU_HASH data path: a new key starts at zero on the other CPUs; updates are in place', () => {
  const m = ph();
  assert.equal(m.updateElem(1, bytes(12, 5), BPF_NOEXIST, 2), 0);
  const v = [0, 1, 2, 3].map((c) => m.lookupElem(1, c)!);
  assert.deepEqual(v.map((x) => x.bytes[0]), [0, 0, 5, 0]);
  assert.equal(m.updateElem(1, bytes(12, 6), BPF_EXIST, 0), 0);
  assert.deepEqual(v.map((x) => x.bytes[0]), [6, 0, 5, 0], 'in place: the held views see it');
  assert.equal(m.lookupElem(1, 0), v[0]);
  assert.equal(m.updateElem(1, bytes(12, 7), BPF_NOEXIST, 0), -EEXIST);
  assert.equal(m.updateElem(2, bytes(12, 7), BPF_EXIST, 0), -ENOENT);
  // percpu updates take no BPF_F_LOCK at all: flags > BPF_EXIST
  assert.equal(m.updateElem(1, bytes(12, 7), BPF_F_LOCK, 0), -EINVAL);
  assert.equal(m.updateElem(1, bytes(12, 7), 3, 0), -EINVAL);
  // no spares: exactly max_entries elements, and replacing in place needs none
  for (const k of [2, 3, 4]) assert.equal(m.updateElem(k, bytes(12, k), BPF_ANY, 1), 0);
  assert.equal(m.updateElem(5, bytes(12, 5), BPF_ANY, 1), -E2BIG);
  assert.equal(m.updateElem(4, bytes(12, 44), BPF_ANY, 3), 0);
  assert.equal(m.elemCount(), 4);
  // delete and reuse: the reused element's other CPUs are zeroed again
  const held = m.lookupElem(4, 1)!;
  assert.equal(held.bytes[0], 4);
  assert.equal(m.deleteElem(4, 0), 0);
  assert.equal(m.deleteElem(4, 0), -ENOENT);
  assert.equal(m.updateElem(9, bytes(12, 9), BPF_ANY, 3), 0);
  assert.equal(m.lookupElem(9, 1), held, 'the freed element was reused at once');
  assert.equal(held.bytes[0], 0);
  assert.equal(m.lookupElem(9, 3)!.bytes[0], 9);
  assert.equal(m.lookupPercpuElem(9, 3), m.lookupElem(9, 3));
  assert.equal(m.lookupPercpuElem(9, 4), null);
  throwsErrno(() => m.lookupElem(9, 4), EINVAL, /cpu 4 does not exist/);
});

test('PERCPU_HASH bpf(2): all CPUs at once', () => {
  const m = ph();
  const val = new Uint8Array(NCPUS * 16);
  for (let i = 0; i < val.length; i++) val[i] = 100 + i;
  assert.equal(m.sysUpdate(7, val, BPF_EXIST), -ENOENT);
  assert.equal(m.sysUpdate(7, val, BPF_NOEXIST), 0);
  for (let c = 0; c < NCPUS; c++) assert.deepEqual([...m.lookupElem(7, c)!.bytes], [...val.subarray(c * 16, c * 16 + 12)]);
  const out = new Uint8Array(NCPUS * 16);
  assert.equal(m.sysLookup(7, out), 0);
  assert.deepEqual(out, val);
  assert.equal(m.sysLookup(8, out), -ENOENT);
  assert.equal(m.sysLookup(7, new Uint8Array(16)), -EFAULT);
  assert.equal(m.sysUpdate(7, val, BPF_NOEXIST), -EEXIST);
  assert.equal(m.sysUpdate(7, val, BPF_F_LOCK), -EINVAL);
  assert.equal(m.sysUpdate(7, new Uint8Array(16), BPF_ANY), -EFAULT);
  val.fill(1);
  assert.equal(m.sysUpdate(7, val, BPF_EXIST), 0);
  assert.equal(m.sysLookup(7, out), 0);
  assert.deepEqual(out, val);
  const k = new Uint8Array(4);
  assert.equal(m.sysGetNextKey(null, k), 0);
  assert.deepEqual([...k], [7, 0, 0, 0]);
  assert.equal(m.sysGetNextKey(7, k), -ENOENT);
  assert.equal(m.sysDelete(7), 0);
  assert.equal(m.sysDelete(7), -ENOENT);
});

test('MapHandle on per-CPU maps: lookupPerCpu, one value for every CPU, sums', () => {
  for (const m of [pa({ valueSize: 8 }), ph({ valueSize: 8 })]) {
    const h = new MapHandle(m);
    assert.equal(h.sysValueSize, NCPUS * 8);
    h.update(1, 5);
    assert.deepEqual(h.lookupPerCpu(1)!.map((b) => b[0]), [5, 5, 5, 5]);
    assert.equal(h.lookupU64(1), 20);
    m.lookupElem(1, 2)!.addU64(0, 2 ** 33);
    assert.equal(h.lookupU64(1), 20 + 2 ** 33);
    h.update(1, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 1]));
    assert.deepEqual(h.lookupPerCpu(1)!.map((b) => [...b]), new Array(4).fill([1, 0, 0, 0, 0, 0, 0, 1]));
    const each = new Uint8Array(NCPUS * 8);
    for (let c = 0; c < NCPUS; c++) each[c * 8] = c + 1;
    h.update(1, each);
    assert.deepEqual(h.lookupPerCpu(1)!.map((b) => b[0]), [1, 2, 3, 4]);
    assert.equal(h.lookupU64(1), 10);
    assert.equal(h.lookup(1)!.length, NCPUS * 8, 'lookup is the raw bpf(2) image');
    if (m instanceof ArrayMap) assert.deepEqual(h.lookupPerCpu(3)!.map((b) => [...b]), new Array(4).fill(new Array(8).fill(0)));
    else assert.equal(h.lookupPerCpu(3), null);
    throwsErrno(() => h.update(1, new Uint8Array(9)), EINVAL, /value has 9 bytes: give value_size \(8\) bytes for every CPU, or 32 bytes/);
  }
  // round_up: value_size 12 is 16 bytes apart
  const h = new MapHandle(pa({ valueSize: 12 }));
  const all = new Uint8Array(NCPUS * 16);
  for (let c = 0; c < NCPUS; c++) all[c * 16 + 11] = c + 10;
  h.update(0, all);
  assert.deepEqual(h.lookupPerCpu(0)!.map((b) => [b.length, b[11]]), [[12, 10], [12, 11], [12, 12], [12, 13]]);
  h.update(0, new Uint8Array(12).fill(3));
  assert.deepEqual([...h.lookup(0)!.subarray(16, 32)], [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0]);
  throwsErrno(() => h.update(0, new Uint8Array(12), BPF_F_LOCK), EINVAL, /BPF_F_LOCK needs/);
  throwsErrno(() => h.update(0, new Uint8Array(12), 3), EINVAL, /flags BPF_NOEXIST\|BPF_EXIST unknown/);
  throwsErrno(() => h.update(0, 1), EINVAL, /a number value needs value_size 4 or 8, this map has 12/);
});
