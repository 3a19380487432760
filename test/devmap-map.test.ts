/*
 * DEVMAP and DEVMAP_HASH from user space, with the kernel's rules
 * (kernel/bpf/devmap.c): creation checks, every update flag against
 * existing and missing keys, out-of-range keys, bad values, lookup, delete,
 * get_next_key walks, a full DEVMAP_HASH, and programs in entries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BPF_ANY, BPF_EXIST, BPF_F_NO_PREALLOC, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_NOEXIST,
  E2BIG, EEXIST, EINVAL, ENOENT, devmapVal, type MapHandle,
} from '../src/index.ts';
import { throwsErrno } from './maps-helpers.ts';
import { fixture, withRuntime } from './helpers.ts';

const val = (b: Uint8Array | null): number[] | null => {
  if (b === null) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return b.length === 8 ? [dv.getUint32(0, true), dv.getUint32(4, true)] : [dv.getUint32(0, true)];
};
const keys = (m: MapHandle): number[] => [...m.keys()].map((k) => new DataView(k.buffer, k.byteOffset).getUint32(0, true));

test('devmap creation checks (dev_map_alloc_check)', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    for (const type of [BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH]) {
      throwsErrno(() => rt.createMap({ type, keySize: 8, valueSize: 4, maxEntries: 4 }), EINVAL, /key_size 8/);
      throwsErrno(() => rt.createMap({ type, keySize: 4, valueSize: 12, maxEntries: 4 }), EINVAL, /value_size 12/);
      throwsErrno(() => rt.createMap({ type, keySize: 4, valueSize: 4, maxEntries: 0 }), EINVAL, /max_entries/);
      throwsErrno(() => rt.createMap({ type, keySize: 4, valueSize: 4, maxEntries: 4, mapFlags: BPF_F_NO_PREALLOC }), EINVAL, /map_flags/);
      const m = rt.createMap({ type, keySize: 4, valueSize: 8, maxEntries: 4, name: 'ok' });
      assert.equal(m.type, type);
    }
  });
});

test('DEVMAP: update flags, bounds, values, lookup, delete, get_next_key', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [a, b] = rt.createVeth('dma', 'dmb');
    const obj = await rt.loadObject(fixture('prog-two.ts'));
    const m = rt.createMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 8, maxEntries: 4, name: 'dm' });
    /* BPF_NOEXIST is EEXIST on every slot, empty or not */
    throwsErrno(() => m.update(0, devmapVal(a.ifindex), BPF_NOEXIST), EEXIST, /every slot of a DEVMAP exists/);
    /* BPF_EXIST on an empty slot is fine: slots always exist */
    m.update(0, devmapVal(a.ifindex), BPF_EXIST);
    assert.deepEqual(val(m.lookup(0)), [a.ifindex, 0]);
    throwsErrno(() => m.update(0, devmapVal(b.ifindex), BPF_NOEXIST), EEXIST);
    m.update(0, devmapVal(b.ifindex), BPF_ANY);
    assert.deepEqual(val(m.lookup(0)), [b.ifindex, 0]);
    throwsErrno(() => m.update(4, devmapVal(a.ifindex)), E2BIG, /key 4 >= max_entries 4/);
    throwsErrno(() => m.update(1, devmapVal(a.ifindex), 4), EINVAL);
    throwsErrno(() => m.update(1, devmapVal(a.ifindex), 8), EINVAL);
    throwsErrno(() => m.update(1, devmapVal(999)), EINVAL, /no device with ifindex 999/);
    throwsErrno(() => m.update(1, devmapVal(a.ifindex, obj.progs.prog_a!)), EINVAL, /SEC\("xdp"\); a devmap entry takes only SEC\("xdp\/devmap"\)/);
    throwsErrno(() => m.update(1, devmapVal(a.ifindex, 12345)), EINVAL, /not a loaded program/);
    throwsErrno(() => m.update(1, devmapVal(0, obj.progs.devmap_prog!)), EINVAL, /needs an ifindex/);
    /* a devmap program: lookup returns its id in bpf_prog.id */
    m.update(1, devmapVal(a.ifindex, obj.progs.devmap_prog!));
    assert.deepEqual(val(m.lookup(1)), [a.ifindex, obj.progs.devmap_prog!.id]);
    /* ifindex 0 empties a slot */
    m.update(1, devmapVal(0));
    assert.equal(m.lookup(1), null);
    assert.equal(m.lookup(3), null);
    assert.equal(m.lookup(4), null);
    /* delete: an empty slot is fine, out of range is EINVAL */
    m.delete(3);
    m.delete(0);
    assert.equal(m.lookup(0), null);
    throwsErrno(() => m.delete(4), EINVAL, /key 4 >= max_entries 4/);
    /* get_next_key walks indexes, not entries */
    assert.deepEqual(keys(m), [0, 1, 2, 3]);
    assert.deepEqual(val(m.getNextKey(2)), [3]);
    assert.equal(m.getNextKey(3), null);
    assert.deepEqual(val(m.getNextKey(4)), [0]);
    assert.deepEqual(val(m.getNextKey(null)), [0]);
    /* value size 4: the value is the ifindex alone */
    const m4 = rt.createMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 4, maxEntries: 2, name: 'dm4' });
    m4.update(1, a.ifindex);
    assert.deepEqual(val(m4.lookup(1)), [a.ifindex]);
  });
});

test('DEVMAP_HASH: flags, full map, bucket order of get_next_key', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [a, b] = rt.createVeth('dha', 'dhb');
    const m = rt.createMap({ type: BPF_MAP_TYPE_DEVMAP_HASH, keySize: 4, valueSize: 8, maxEntries: 4, name: 'dh' });
    throwsErrno(() => m.update(7, devmapVal(0)), EINVAL, /ifindex 0/);
    throwsErrno(() => m.update(7, devmapVal(a.ifindex), 4), EINVAL);
    /* the kernel does not refuse BPF_EXIST on a missing key: it inserts */
    m.update(1, devmapVal(a.ifindex), BPF_EXIST);
    assert.deepEqual(val(m.lookup(1)), [a.ifindex, 0]);
    throwsErrno(() => m.update(1, devmapVal(b.ifindex), BPF_NOEXIST), EEXIST, /key 1 exists/);
    m.update(1, devmapVal(b.ifindex), BPF_EXIST);
    assert.deepEqual(val(m.lookup(1)), [b.ifindex, 0]);
    /* n_buckets = 4: keys 1, 5, 9 share bucket 1, newest first */
    m.update(5, devmapVal(a.ifindex), BPF_NOEXIST);
    m.update(9, devmapVal(a.ifindex));
    m.update(2, devmapVal(b.ifindex));
    assert.deepEqual(keys(m), [9, 5, 1, 2]);
    /* replacing a key moves it to the head of its bucket; a failed update keeps the old entry */
    m.update(5, devmapVal(b.ifindex));
    assert.deepEqual(keys(m), [5, 9, 1, 2]);
    throwsErrno(() => m.update(5, devmapVal(999)), EINVAL, /no device with ifindex 999/);
    assert.deepEqual(val(m.lookup(5)), [b.ifindex, 0]);
    m.update(5, devmapVal(a.ifindex));
    assert.deepEqual(keys(m), [5, 9, 1, 2]);
    assert.deepEqual(val(m.getNextKey(1)), [2]);
    assert.deepEqual(val(m.getNextKey(100)), [5]);
    assert.equal(m.getNextKey(2), null);
    /* full at max_entries; replacing an existing key still works */
    throwsErrno(() => m.update(3, devmapVal(a.ifindex)), E2BIG, /full: 4 entries/);
    m.update(9, devmapVal(b.ifindex));
    assert.equal(m.lookup(3), null);
    throwsErrno(() => m.delete(3), ENOENT, /key 3 does not exist/);
    m.delete(5);
    assert.deepEqual(keys(m), [9, 1, 2]);
    /* keys are not bounded by max_entries, only the number of entries is */
    m.delete(9);
    m.update(100_000, devmapVal(a.ifindex));
    assert.deepEqual(val(m.lookup(100_000)), [a.ifindex, 0]);
    m.delete(100_000);
    m.update(9, devmapVal(b.ifindex));
    m.update(3, devmapVal(a.ifindex));
    assert.deepEqual(keys(m), [9, 1, 2, 3]);
    /* many replacements: records are reused after grace periods, the map stays exact */
    for (let i = 0; i < 500; i++) m.update(2, devmapVal(i % 2 ? a.ifindex : b.ifindex));
    assert.deepEqual(val(m.lookup(2)), [a.ifindex, 0]);
    assert.deepEqual(keys(m), [9, 1, 2, 3]);
  });
});

test('devmap records are reused only after a grace period', async () => {
  const { createMapShared, openMap } = await import('../src/maps/map.ts');
  const { DevMap } = await import('../src/maps/devmap.ts');
  const m = openMap(createMapShared({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 4, maxEntries: 2, name: 'gp' }, 1, 1));
  assert.ok(m instanceof DevMap);
  /* call_rcu: the callbacks run when the test ends the grace period */
  const pending: (() => void)[] = [];
  m.bindControl({
    devOk: () => true, progSection: () => undefined,
    callRcu: (fn) => { pending.push(fn); },
    gpStarted: () => 0,
    progGet: () => {},
    progPut: () => {},
  });
  const seen = new Set<number>();
  /* no grace period ends: 60 replacements of one slot all take fresh records (the writer never waits) */
  for (let i = 0; i < 60; i++) {
    assert.equal(m.sysUpdate(0, new Uint8Array([7, 0, 0, 0]), 0), 0);
    const r = m.lookupRec(0);
    assert.ok(!seen.has(r), `record ${r} reused before its grace period`);
    seen.add(r);
  }
  assert.equal(pending.length, 59);
  /* one more replacement retires the 60th record; then the grace periods end and it is the first one reused */
  const cur60 = m.lookupRec(0);
  assert.equal(m.sysUpdate(0, new Uint8Array([7, 0, 0, 0]), 0), 0);
  assert.notEqual(m.lookupRec(0), cur60);
  for (const fn of pending.splice(0)) fn();
  assert.equal(m.sysUpdate(0, new Uint8Array([7, 0, 0, 0]), 0), 0);
  assert.equal(m.lookupRec(0), cur60);
});
