// BPF_MAP_TYPE_HASH: creation checks (htab_map_alloc_check, htab_map_alloc),
// update flags, fullness, delete, get_next_key, key sizes, element reuse
// (the preallocated htab), the bpf(2) rules and MapHandle messages.
// PERCPU_HASH is in maps-percpu.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  E2BIG, EACCES, EBUSY, EEXIST, EFAULT, EINVAL, ENOENT, ENOMEM, EPERM,
} from '../src/shared/errno.ts';
import {
  BPF_ANY, BPF_EXIST, BPF_F_INNER_MAP, BPF_F_LOCK, BPF_F_MMAPABLE, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC,
  BPF_F_NUMA_NODE, BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_F_ZERO_SEED,
  BPF_MAP_TYPE_HASH, BPF_NOEXIST,
} from '../src/shared/uapi.ts';
import { createMapShared, openMap, type MapSpec } from '../src/maps/map.ts';
import { HashMap } from '../src/maps/hash.ts';
import { MapHandle } from '../src/maps/handle.ts';
import { LOCK_TIMEOUT_MS } from '../src/maps/common.ts';
import { le32, throwsErrno, u64 } from './maps-helpers.ts';

const NCPUS = 2;

function hashSpec(over: Partial<MapSpec> = {}): MapSpec {
  return { type: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 64, name: 'flows', ...over };
}

function mk(over: Partial<MapSpec> = {}, id = 5): HashMap {
  const m = openMap(createMapShared(hashSpec(over), id, NCPUS));
  assert.ok(m instanceof HashMap);
  return m;
}

/** every key by get_next_key, as u32s */
function allKeys(m: HashMap): number[] {
  const out: number[] = [];
  const k = new Uint8Array(4);
  let prev: Uint8Array | null = null;
  for (;;) {
    const r = m.sysGetNextKey(prev, k);
    if (r === -ENOENT) return out;
    assert.equal(r, 0);
    out.push(le32(k));
    prev = k.slice();
    if (out.length > 100000) throw new Error('get_next_key does not end');
  }
}

test('create: the attributes htab_map_alloc_check and htab_map_alloc refuse', () => {
  throwsErrno(() => mk({ keySize: 0 }), EINVAL, /map 'flows' create: key_size 0/);
  throwsErrno(() => mk({ valueSize: 0 }), EINVAL, /value_size 0/);
  throwsErrno(() => mk({ maxEntries: 0 }), EINVAL, /max_entries 0/);
  // key_size + value_size >= KMALLOC_MAX_SIZE - sizeof(struct htab_elem)
  throwsErrno(() => mk({ keySize: 4 << 20, valueSize: 1 }), E2BIG, /must be below KMALLOC_MAX_SIZE/);
  throwsErrno(() => mk({ keySize: (4 << 20) - 48 - 8, valueSize: 8 }), E2BIG);
  assert.ok(mk({ keySize: (4 << 20) - 48 - 9, valueSize: 8, maxEntries: 1 }));
  throwsErrno(() => mk({ maxEntries: 2 ** 31 + 1 }), E2BIG, /max_entries 2147483649 > 2\^31/);
  // n_buckets * sizeof(struct bucket) (16) must fit a u32: max_entries <= 2^27
  throwsErrno(() => mk({ maxEntries: 2 ** 27 + 1 }), E2BIG, /268435456 buckets overflow a u32/);
  throwsErrno(() => mk({ maxEntries: 2 ** 27 }), ENOMEM, /elements of 32 bytes needs/);
  // keys of any size > 0
  for (const ks of [1, 3, 4, 6, 8, 16, 64]) assert.equal(mk({ keySize: ks }).keySize, ks);
});

test('create: map_flags a hash accepts and refuses', () => {
  for (const f of [BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_ZERO_SEED, BPF_F_RDONLY, BPF_F_WRONLY,
    BPF_F_RDONLY_PROG, BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED]) {
    assert.equal(mk({ mapFlags: f }).mapFlags, f);
  }
  throwsErrno(() => mk({ mapFlags: BPF_F_NO_COMMON_LRU }), EINVAL, /BPF_F_NO_COMMON_LRU is only for the LRU hash types/);
  throwsErrno(() => mk({ mapFlags: BPF_F_MMAPABLE }), EINVAL, /bits 0x400 are not accepted by BPF_MAP_TYPE_HASH/);
  throwsErrno(() => mk({ mapFlags: BPF_F_INNER_MAP }), EINVAL, /bits 0x1000/);
  throwsErrno(() => mk({ mapFlags: BPF_F_PRESERVE_ELEMS }), EINVAL, /bits 0x800/);
  throwsErrno(() => mk({ mapFlags: BPF_F_RDONLY | BPF_F_WRONLY }), EINVAL, /together/);
});

test('update flags: BPF_ANY, BPF_NOEXIST (EEXIST), BPF_EXIST (ENOENT), unknown (EINVAL), BPF_F_LOCK (EINVAL)', () => {
  const m = mk();
  assert.equal(m.updateElem(1, u64(10), BPF_EXIST, 0), -ENOENT);
  assert.equal(m.lookupElem(1, 0), null);
  assert.equal(m.updateElem(1, u64(10), BPF_NOEXIST, 0), 0);
  assert.equal(m.lookupElem(1, 0)!.getU64(0), 10);
  assert.equal(m.updateElem(1, u64(11), BPF_NOEXIST, 0), -EEXIST);
  assert.equal(m.updateElem(1, u64(12), BPF_EXIST, 1), 0);
  assert.equal(m.lookupElem(1, 0)!.getU64(0), 12);
  assert.equal(m.updateElem(1, u64(13), BPF_ANY, 0), 0);
  assert.equal(m.updateElem(2, u64(20), BPF_ANY, 1), 0);
  assert.equal(m.updateElem(1, u64(0), 3, 0), -EINVAL);
  assert.equal(m.updateElem(1, u64(0), 8, 0), -EINVAL);
  assert.equal(m.updateElem(1, u64(0), BPF_F_LOCK, 0), -EINVAL);
  assert.equal(m.updateElem(9, u64(0), BPF_EXIST | BPF_F_LOCK, 0), -EINVAL, 'no spin lock: EINVAL before the lookup');
  assert.equal(m.lookupElem(1, 0)!.getU64(0), 13);
  assert.equal(m.lookupElem(2, 0)!.getU64(0), 20);
  assert.equal(m.elemCount(), 2);
});

test('delete: ENOENT for a missing key; the key is gone after', () => {
  const m = mk();
  assert.equal(m.deleteElem(7, 0), -ENOENT);
  assert.equal(m.updateElem(7, u64(1), BPF_ANY, 0), 0);
  assert.equal(m.deleteElem(7, 1), 0);
  assert.equal(m.deleteElem(7, 0), -ENOENT);
  assert.equal(m.lookupElem(7, 0), null);
  assert.equal(m.elemCount(), 0);
});

test('full: E2BIG for a new key, but an existing key can still be replaced', () => {
  const m = mk({ maxEntries: 4 });
  for (let i = 0; i < 4; i++) assert.equal(m.updateElem(100 + i, u64(i), BPF_NOEXIST, 0), 0);
  assert.equal(m.updateElem(200, u64(0), BPF_ANY, 0), -E2BIG);
  assert.equal(m.sysUpdate(200, u64(0), BPF_ANY), -E2BIG);
  // replacing uses the CPU's spare element: works when full, from every CPU and user space
  assert.equal(m.updateElem(101, u64(41), BPF_ANY, 0), 0);
  assert.equal(m.updateElem(101, u64(42), BPF_EXIST, 1), 0);
  assert.equal(m.sysUpdate(102, u64(43), BPF_ANY), 0);
  assert.equal(m.lookupElem(101, 0)!.getU64(0), 42);
  assert.equal(m.lookupElem(102, 0)!.getU64(0), 43);
  assert.equal(m.elemCount(), 4);
  assert.equal(m.deleteElem(100, 0), 0);
  assert.equal(m.updateElem(200, u64(7), BPF_NOEXIST, 1), 0);
  assert.equal(m.updateElem(201, u64(7), BPF_NOEXIST, 1), -E2BIG);
  assert.deepEqual(allKeys(m).sort((a, b) => a - b), [101, 102, 103, 200]);
});

test('replace: a new element is linked, the old one becomes the CPU\'s spare and is reused by its next replace', () => {
  const m = mk();
  assert.equal(m.updateElem(1, u64(1), BPF_ANY, 0), 0);
  const v1 = m.lookupElem(1, 0)!;
  assert.equal(m.updateElem(1, u64(2), BPF_ANY, 0), 0);
  const v2 = m.lookupElem(1, 0)!;
  assert.notEqual(v2, v1, 'the key lives in another element now');
  assert.equal(v2.getU64(0), 2);
  assert.equal(v1.getU64(0), 1, 'a program holding the old value still reads the old value');
  // CPU 0 replaces again: its spare is the old element, which now holds the new value
  assert.equal(m.updateElem(1, u64(3), BPF_ANY, 0), 0);
  assert.equal(m.lookupElem(1, 0), v1);
  assert.equal(v1.getU64(0), 3);
  // CPU 1 has a spare of its own
  assert.equal(m.updateElem(1, u64(4), BPF_ANY, 1), 0);
  assert.notEqual(m.lookupElem(1, 0), v1);
  assert.notEqual(m.lookupElem(1, 0), v2);
  assert.equal(v1.getU64(0), 3);
});

test('a deleted element goes back to the free list and is reused at once (no grace period)', () => {
  const m = mk();
  assert.equal(m.updateElem(1, u64(111), BPF_ANY, 0), 0);
  const held = m.lookupElem(1, 0)!;
  assert.equal(m.deleteElem(1, 0), 0);
  assert.equal(held.getU64(0), 111, 'nothing is cleared on delete');
  assert.equal(m.updateElem(2, u64(222), BPF_ANY, 1), 0);
  assert.equal(m.lookupElem(2, 0), held, 'the next insert takes the element just freed');
  assert.equal(held.getU64(0), 222, 'a program still holding it sees the new key\'s value');
});

test('keys: a number and its 4 little-endian bytes are one key; other sizes need Uint8Array', () => {
  const m = mk();
  assert.equal(m.updateElem(0x01020304, u64(5), BPF_ANY, 0), 0);
  assert.equal(m.lookupElem(new Uint8Array([4, 3, 2, 1]), 0)!.getU64(0), 5);
  assert.equal(m.updateElem(new Uint8Array([4, 3, 2, 1]), u64(6), BPF_NOEXIST, 0), -EEXIST);
  const out = new Uint8Array(4);
  assert.equal(m.sysGetNextKey(null, out), 0);
  assert.deepEqual([...out], [4, 3, 2, 1]);

  for (const ks of [1, 3, 6, 13, 16]) {
    const h = mk({ keySize: ks, maxEntries: 256 });
    const keys: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      const k = new Uint8Array(ks);
      for (let j = 0; j < ks; j++) k[j] = (i * 31 + j * 7 + (i >> 3)) & 0xff;
      keys.push(k);
    }
    const uniq = new Map(keys.map((k) => [k.join(','), k]));
    let n = 0;
    for (const k of uniq.values()) assert.equal(h.updateElem(k, u64(n++), BPF_NOEXIST, 0), 0, `key_size ${ks}`);
    n = 0;
    for (const k of uniq.values()) assert.equal(h.lookupElem(k.slice(), 1)!.getU64(0), n++, `key_size ${ks}`);
    assert.equal(h.elemCount(), uniq.size);
    throwsErrno(() => h.lookupElem(new Uint8Array(ks + 1), 0), EINVAL, new RegExp(`key has ${ks + 1} bytes, key_size is ${ks}`));
    if (ks !== 4) throwsErrno(() => h.lookupElem(1, 0), EINVAL, /a number key needs key_size 4/);
  }
});

test('many keys, with chains: insert, look up, delete half, iterate', () => {
  const m = mk({ maxEntries: 1000, mapFlags: BPF_F_ZERO_SEED });
  const keys: number[] = [];
  let x = 12345;
  while (keys.length < 1000) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    if (!keys.includes(x)) keys.push(x);
  }
  for (const [i, k] of keys.entries()) assert.equal(m.updateElem(k, u64(i), BPF_NOEXIST, i & 1), 0);
  assert.equal(m.updateElem(1, u64(0), BPF_NOEXIST, 0), keys.includes(1) ? -EEXIST : -E2BIG);
  for (const [i, k] of keys.entries()) assert.equal(m.lookupElem(k, 0)!.getU64(0), i);
  for (const [i, k] of keys.entries()) if (i % 2) assert.equal(m.deleteElem(k, 0), 0);
  for (const [i, k] of keys.entries()) {
    const v = m.lookupElem(k, 1);
    if (i % 2) assert.equal(v, null);
    else assert.equal(v!.getU64(0), i);
  }
  const seen = allKeys(m);
  assert.equal(seen.length, 500);
  assert.deepEqual([...seen].sort((a, b) => a - b), keys.filter((_, i) => i % 2 === 0).sort((a, b) => a - b));
  assert.equal(m.elemCount(), 500);
  // the 500 freed elements can all be used again, and no more
  for (let i = 0; i < 500; i++) assert.equal(m.updateElem(0x80000000 + i, u64(i), BPF_NOEXIST, 0), keys.includes(0x80000000 + i) ? -EEXIST : 0);
  assert.equal(m.updateElem(0x7fffffff, u64(0), BPF_ANY, 0), -E2BIG);
});

test('get_next_key: null or a missing key gives the first key; the last gives ENOENT', () => {
  const m = mk({ maxEntries: 8 });
  const out = new Uint8Array(4);
  assert.equal(m.sysGetNextKey(null, out), -ENOENT, 'empty map');
  assert.equal(m.sysGetNextKey(5, out), -ENOENT);
  for (const k of [10, 20, 30, 40, 50]) assert.equal(m.sysUpdate(k, u64(k), BPF_ANY), 0);
  const order = allKeys(m);
  assert.deepEqual([...order].sort((a, b) => a - b), [10, 20, 30, 40, 50]);
  assert.equal(m.sysGetNextKey(777, out), 0);
  assert.equal(le32(out), order[0], 'a key not in the map restarts at the first');
  for (let i = 0; i + 1 < order.length; i++) {
    assert.equal(m.sysGetNextKey(order[i]!, out), 0);
    assert.equal(le32(out), order[i + 1]);
  }
  assert.equal(m.sysGetNextKey(order[4]!, out), -ENOENT);
  // deleting the current key while walking restarts the walk, as in the kernel
  assert.equal(m.sysDelete(order[2]!), 0);
  assert.equal(m.sysGetNextKey(order[2]!, out), 0);
  assert.equal(le32(out), order[0]);
  assert.equal(m.sysGetNextKey(order[0]!, new Uint8Array(3)), -EFAULT);
});

test('ZERO_SEED: the same inserts give the same layout and iteration order', () => {
  const a = mk({ mapFlags: BPF_F_ZERO_SEED, maxEntries: 32 });
  const b = mk({ mapFlags: BPF_F_ZERO_SEED, maxEntries: 32 });
  for (let k = 0; k < 30; k++) {
    a.sysUpdate(k * 977, u64(k), BPF_ANY);
    b.sysUpdate(k * 977, u64(k), BPF_ANY);
  }
  assert.deepEqual(allKeys(a), allKeys(b));
});

test('bpf(2): lookup, update, delete and their errnos', () => {
  const m = mk();
  const out = new Uint8Array(8);
  assert.equal(m.sysLookup(1, out), -ENOENT);
  assert.equal(m.sysUpdate(1, u64(99), BPF_NOEXIST), 0);
  assert.equal(m.sysLookup(1, out), 0);
  assert.deepEqual([...out], [...u64(99)]);
  assert.equal(m.sysLookup(1, new Uint8Array(4)), -EFAULT);
  assert.equal(m.sysUpdate(1, u64(1), BPF_NOEXIST), -EEXIST);
  assert.equal(m.sysUpdate(2, u64(1), BPF_EXIST), -ENOENT);
  assert.equal(m.sysUpdate(1, u64(1), 3), -EINVAL);
  assert.equal(m.sysUpdate(1, u64(1), BPF_F_LOCK), -EINVAL);
  assert.equal(m.sysUpdate(1, new Uint8Array(7), BPF_ANY), -EFAULT);
  assert.equal(m.sysUpdate(new Uint8Array(2), u64(1), BPF_ANY), -EINVAL);
  assert.equal(m.sysDelete(2), -ENOENT);
  assert.equal(m.sysDelete(1), 0);
  assert.equal(m.sysLookup(1, out), -ENOENT);

  const ro = mk({ mapFlags: BPF_F_RDONLY });
  assert.equal(ro.sysUpdate(1, u64(1), BPF_ANY), -EPERM);
  assert.equal(ro.sysDelete(1), -EPERM);
  assert.equal(ro.updateElem(1, u64(1), BPF_ANY, 0), 0);
  assert.equal(ro.sysLookup(1, out), 0);
  const wo = mk({ mapFlags: BPF_F_WRONLY });
  assert.equal(wo.sysLookup(1, out), -EPERM);
  assert.equal(wo.sysGetNextKey(null, new Uint8Array(4)), -EPERM);
  const rop = mk({ mapFlags: BPF_F_RDONLY_PROG });
  assert.equal(rop.updateElem(1, u64(1), BPF_ANY, 0), -EACCES);
  assert.equal(rop.deleteElem(1, 0), -EACCES);
  assert.equal(rop.sysUpdate(1, u64(1), BPF_ANY), 0);
  assert.equal(rop.lookupElem(1, 0)!.getU64(0), 1);
});

test('data path: arguments the verifier would refuse throw', () => {
  const m = mk({ keySize: 8 });
  throwsErrno(() => m.updateElem(new Uint8Array(8), new Uint8Array(4), BPF_ANY, 0), EINVAL,
    /map 'flows' \(id 5\) update from a program: value has 4 bytes, value_size is 8/);
  throwsErrno(() => m.updateElem(new Uint8Array(8), u64(1), BPF_ANY, 2), EINVAL, /cpu 2 does not exist \(ncpus 2\)/);
  throwsErrno(() => m.deleteElem(3, 0), EINVAL, /delete from a program: a number key needs key_size 4/);
});

test('MapHandle on a hash: messages and iteration', () => {
  const h = new MapHandle(mk({ maxEntries: 2, name: 'flows' }, 8));
  h.update(1, 10);
  h.update(2, 20n, BPF_NOEXIST);
  assert.equal(h.lookupU64(2), 20);
  assert.deepEqual([...h.keys()].map(le32).sort(), [1, 2]);
  throwsErrno(() => h.update(3, 1), E2BIG,
    /^E2BIG: map 'flows' \(id 8\) update: the map is full: all 2 elements \(max_entries\) are in use, key 3 cannot be added$/);
  throwsErrno(() => h.update(2, 1, BPF_NOEXIST), EEXIST, /update: flags BPF_NOEXIST: key 2 already exists/);
  throwsErrno(() => h.update(5, 1, BPF_EXIST), ENOENT, /update: flags BPF_EXIST: key 5 does not exist/);
  throwsErrno(() => h.delete(5), ENOENT, /^ENOENT: map 'flows' \(id 8\) delete: key 5 does not exist$/);
  assert.equal(h.lookup(5), null);
  h.delete(1);
  assert.equal(h.lookup(1), null);
  assert.equal(h.getNextKey(2), null);
  const wide = new MapHandle(mk({ keySize: 6, name: 'w' }, 9));
  throwsErrno(() => wide.update(1, 1), EINVAL, /map 'w' \(id 9\) update: a number key needs key_size 4/);
  wide.update(new Uint8Array([1, 2, 3, 4, 5, 6]), 77);
  throwsErrno(() => wide.update(new Uint8Array([1, 2, 3, 4, 5, 6]), 1, BPF_NOEXIST), EEXIST, /key <01 02 03 04 05 06> already exists/);
  assert.deepEqual([...wide.getNextKey(null)!], [1, 2, 3, 4, 5, 6]);
});

test('a bucket lock whose holder died: EBUSY after LOCK_TIMEOUT_MS, lookups unaffected', () => {
  const s = createMapShared(hashSpec({ maxEntries: 1, name: 'one' }), 6, NCPUS);
  const m = openMap(s) as HashMap;
  assert.equal(m.sysUpdate(1, u64(5), BPF_ANY), 0);
  const locks = new Int32Array(s.buffers[1]!);
  locks[1] = 1; /* the only bucket's lock, "held" by a worker that was terminated */
  const t0 = Date.now();
  assert.equal(m.updateElem(1, u64(6), BPF_ANY, 0), -EBUSY);
  const waited = Date.now() - t0;
  assert.ok(waited >= LOCK_TIMEOUT_MS && waited < LOCK_TIMEOUT_MS + 1000, `waited ${waited} ms`);
  assert.equal(m.lookupElem(1, 0)!.getU64(0), 5, 'lookups take no lock');
  const h = new MapHandle(m);
  throwsErrno(() => h.delete(1), EBUSY, /delete: key 1: a lock of the map was held for over 2000 ms/);
  Atomics.store(locks, 1, 0);
  assert.equal(m.updateElem(1, u64(7), BPF_ANY, 0), 0);
  assert.equal(h.lookupU64(1), 7);
});
