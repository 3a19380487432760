// Maps under real concurrency: 4 worker threads (CPUs 0..3) and the main
// thread (user space) hammer the same shared maps at once, then the main
// thread checks exact outcomes: atomic counters, per-CPU counters, every
// hash operation's errno against what must have happened, element
// accounting (inserts - deletes = elements present), and that no
// preallocated element leaked or was freed twice (the map fills to exactly
// max_entries again).
//
// The workers run this same file: on Node 20 tsx's hooks do not reach a
// worker, so the worker is an `eval` bootstrap that registers tsx and then
// imports this module, which sees !isMainThread and runs runWorker().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { E2BIG, EEXIST, ENOENT } from '../src/shared/errno.ts';
import {
  BPF_ANY, BPF_EXIST, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_NOEXIST,
} from '../src/shared/uapi.ts';
import { createMapShared, openMap, type BpfMap, type MapShared } from '../src/maps/map.ts';
import { HashMap } from '../src/maps/hash.ts';
import { MapHandle } from '../src/maps/handle.ts';
import { u64 } from './maps-helpers.ts';

const NCPUS = 4;
const ITERS = 100_000;
const DISJOINT = 256;        /* keys only one worker touches */
const OVERLAP = 64;          /* keys every worker touches */
const SMALL_KEYS = 32;       /* keys fighting for a 16-element map */
const SMALL_MAX = 16;
const HASH_MAX = 2048;       /* >= NCPUS * DISJOINT + OVERLAP + user space's keys: never full */
const USER_KEYS = 128;
const BIG_ADD = 3_000_000_001;

interface Maps { arr: MapShared; pcpu: MapShared; hash: MapShared; small: MapShared }
interface WorkerInput { mapsConcurrent: true; self: string; cpu: number; maps: Maps; go: SharedArrayBuffer }
interface WorkerResult {
  kind: 'done';
  cpu: number;
  mismatches: number;
  firstMismatches: string[];
  present: number[];          /* disjoint key index -> 1 if present at the end */
  last: number[];             /* its last value */
  ovIns: number; ovDel: number; ovUpd: number;
  smIns: number; smDel: number; smFull: number;
}

const disjointKey = (cpu: number, k: number) => (cpu + 1) * 1_000_000 + k;
const overlapKey = (k: number) => 5_000_000 + k;
const userKey = (k: number) => 9_000_000 + k;

/* ---------------- the worker: one simulated CPU ---------------- */

function runWorker(d: WorkerInput): void {
  const cpu = d.cpu;
  const arr = openMap(d.maps.arr);
  const pcpu = openMap(d.maps.pcpu);
  const hash = openMap(d.maps.hash);
  const small = openMap(d.maps.small);
  const go = new Int32Array(d.go);
  parentPort!.postMessage({ kind: 'ready', cpu });
  while (Atomics.load(go, 0) === 0) Atomics.wait(go, 0, 0, 100);

  const counter = arr.lookupElem(0, cpu)!;
  const big = arr.lookupElem(1, cpu)!;
  const mine = pcpu.lookupElem(0, cpu)!;
  const val = new Uint8Array(8);
  const dv = new DataView(val.buffer);
  const present = new Array<number>(DISJOINT).fill(0);
  const last = new Array<number>(DISJOINT).fill(0);
  const res: WorkerResult = {
    kind: 'done', cpu, mismatches: 0, firstMismatches: [], present, last,
    ovIns: 0, ovDel: 0, ovUpd: 0, smIns: 0, smDel: 0, smFull: 0,
  };
  const bad = (what: string) => {
    res.mismatches++;
    if (res.firstMismatches.length < 10) res.firstMismatches.push(what);
  };
  let seed = 0x9e3779b9 ^ (cpu * 0x85ebca6b);
  const rnd = () => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return seed >>> 0;
  };

  for (let i = 0; i < ITERS; i++) {
    counter.atomicAddU64(0, 1);
    counter.atomicAddU32(8, 1);
    if (i % 1000 === 0) big.atomicAddU64(0, BIG_ADD);
    mine.addU64(0, 1);

    /* this CPU's own keys: every result is predictable */
    const r = rnd();
    const k = r % DISJOINT;
    const key = disjointKey(cpu, k);
    const v = i * NCPUS + cpu + 1;
    dv.setUint32(0, v, true);
    dv.setUint32(4, cpu, true);
    const was = present[k]!;
    switch ((r >>> 8) & 3) {
      case 0: {
        const ret = hash.updateElem(key, val, BPF_NOEXIST, cpu);
        if (ret !== (was ? -EEXIST : 0)) bad(`i ${i} insert ${key}: ${ret}, present ${was}`);
        if (ret === 0) { present[k] = 1; last[k] = v; }
        break;
      }
      case 1: {
        const ret = hash.updateElem(key, val, BPF_EXIST, cpu);
        if (ret !== (was ? 0 : -ENOENT)) bad(`i ${i} replace ${key}: ${ret}, present ${was}`);
        if (ret === 0) last[k] = v;
        break;
      }
      case 2: {
        const ret = hash.deleteElem(key, cpu);
        if (ret !== (was ? 0 : -ENOENT)) bad(`i ${i} delete ${key}: ${ret}, present ${was}`);
        present[k] = 0;
        break;
      }
      default: {
        const mv = hash.lookupElem(key, cpu);
        if (!was) { if (mv !== null) bad(`i ${i} lookup ${key}: found, should be absent`); }
        else if (mv === null) bad(`i ${i} lookup ${key}: absent`);
        else if (mv.getU32(0) !== last[k] || mv.getU32(4) !== cpu) bad(`i ${i} lookup ${key}: ${mv.getU32(0)}/${mv.getU32(4)}, want ${last[k]}/${cpu}`);
      }
    }

    /* keys every CPU fights over: only the set of outcomes is known */
    const r2 = rnd();
    const ok = overlapKey(r2 % OVERLAP);
    switch ((r2 >>> 8) & 3) {
      case 0: {
        const ret = hash.updateElem(ok, val, BPF_NOEXIST, cpu);
        if (ret === 0) res.ovIns++;
        else if (ret !== -EEXIST) bad(`overlap insert ${ok}: ${ret}`);
        break;
      }
      case 1: {
        const ret = hash.updateElem(ok, val, BPF_EXIST, cpu);
        if (ret === 0) res.ovUpd++;
        else if (ret !== -ENOENT) bad(`overlap replace ${ok}: ${ret}`);
        break;
      }
      case 2: {
        const ret = hash.deleteElem(ok, cpu);
        if (ret === 0) res.ovDel++;
        else if (ret !== -ENOENT) bad(`overlap delete ${ok}: ${ret}`);
        break;
      }
      default: {
        const mv = hash.lookupElem(ok, cpu);
        if (mv !== null && mv.getU32(4) >= NCPUS + 1) bad(`overlap lookup ${ok}: cpu field ${mv.getU32(4)}`);
      }
    }

    /* a map too small for its keys: E2BIG is part of the game */
    const r3 = rnd();
    const sk = r3 % SMALL_KEYS;
    switch ((r3 >>> 8) % 3) {
      case 0: {
        const ret = small.updateElem(sk, val, BPF_NOEXIST, cpu);
        if (ret === 0) res.smIns++;
        else if (ret === -E2BIG) res.smFull++;
        else if (ret !== -EEXIST) bad(`small insert ${sk}: ${ret}`);
        break;
      }
      case 1: {
        const ret = small.updateElem(sk, val, BPF_EXIST, cpu);
        if (ret !== 0 && ret !== -ENOENT) bad(`small replace ${sk}: ${ret}`);
        break;
      }
      default: {
        const ret = small.deleteElem(sk, cpu);
        if (ret === 0) res.smDel++;
        else if (ret !== -ENOENT) bad(`small delete ${sk}: ${ret}`);
      }
    }
  }
  parentPort!.postMessage(res);
}

if (!isMainThread && (workerData as WorkerInput | undefined)?.mapsConcurrent) {
  runWorker(workerData as WorkerInput);
}

/* ---------------- the main thread: user space, and the checks ---------------- */

const BOOT = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { register } = await import('tsx/esm/api');
  register();
  await import(workerData.self);
})().catch((e) => parentPort.postMessage({ kind: 'error', error: String((e && e.stack) || e) }));
`;

function startWorker(input: WorkerInput): { worker: Worker; ready: Promise<void>; done: Promise<WorkerResult> } {
  const worker = new Worker(BOOT, { eval: true, workerData: input });
  let onReady!: () => void;
  let onDone!: (r: WorkerResult) => void;
  let onError!: (e: Error) => void;
  const ready = new Promise<void>((res) => { onReady = res; });
  const done = new Promise<WorkerResult>((res, rej) => { onDone = res; onError = rej; });
  worker.on('message', (m: { kind: string; error?: string }) => {
    if (m.kind === 'ready') onReady();
    else if (m.kind === 'done') onDone(m as WorkerResult);
    else if (m.kind === 'error') onError(new Error(`worker ${input.cpu}: ${m.error}`));
  });
  worker.on('error', (e) => onError(e));
  worker.on('exit', (code) => onError(new Error(`worker ${input.cpu} exited with ${code} before reporting`)));
  return { worker, ready, done };
}

/** User space's part while the CPUs run: its own keys, every result exact, and full walks. */
function userSpaceBatch(hash: BpfMap, present: Uint8Array, last: Float64Array, step: { n: number }, errors: string[]): void {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  for (let j = 0; j < 200; j++) {
    const n = step.n++;
    const k = (n * 2654435761 >>> 0) % USER_KEYS;
    const key = userKey(k);
    const v = n + 1;
    const was = present[k]!;
    switch (n % 4) {
      case 0: {
        const r = hash.sysUpdate(key, u64(v), BPF_ANY);
        if (r !== 0) errors.push(`user update ${key}: ${r}`);
        present[k] = 1;
        last[k] = v;
        break;
      }
      case 1: {
        const r = hash.sysDelete(key);
        if (r !== (was ? 0 : -ENOENT)) errors.push(`user delete ${key}: ${r}, present ${was}`);
        present[k] = 0;
        break;
      }
      case 2: {
        const r = hash.sysUpdate(key, u64(v), BPF_EXIST);
        if (r !== (was ? 0 : -ENOENT)) errors.push(`user replace ${key}: ${r}, present ${was}`);
        if (r === 0) last[k] = v;
        break;
      }
      default: {
        const r = hash.sysLookup(key, out);
        if (r !== (was ? 0 : -ENOENT)) errors.push(`user lookup ${key}: ${r}, present ${was}`);
        else if (r === 0 && dv.getUint32(0, true) !== last[k]) errors.push(`user lookup ${key}: ${dv.getUint32(0, true)}, want ${last[k]}`);
      }
    }
  }
  /* a walk with get_next_key must end, whatever the CPUs do meanwhile */
  const k = new Uint8Array(4);
  let prev: Uint8Array | null = null;
  for (let n = 0; ; n++) {
    const r = hash.sysGetNextKey(prev, k);
    if (r === -ENOENT) break;
    if (r !== 0) { errors.push(`get_next_key: ${r}`); break; }
    if (n > 100 * HASH_MAX) { errors.push('get_next_key walk does not end'); break; }
    prev = k.slice();
  }
}

function keysOf(h: MapHandle): number[] {
  return [...h.keys()].map((k) => new DataView(k.buffer).getUint32(0, true));
}

test('4 CPUs and user space at once: exact counters, exact hash results, no element lost', { timeout: 120_000 }, async () => {
  const maps: Maps = {
    arr: createMapShared({ type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 16, maxEntries: 4, name: 'counters' }, 1, NCPUS),
    pcpu: createMapShared({ type: BPF_MAP_TYPE_PERCPU_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, name: 'pcpu' }, 2, NCPUS),
    hash: createMapShared({ type: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: HASH_MAX, name: 'flows' }, 3, NCPUS),
    small: createMapShared({ type: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: SMALL_MAX, name: 'small' }, 4, NCPUS),
  };
  const go = new SharedArrayBuffer(4);
  const self = import.meta.url;
  const workers = Array.from({ length: NCPUS }, (_, cpu) => startWorker({ mapsConcurrent: true, self, cpu, maps, go }));
  try {
    await Promise.all(workers.map((w) => w.ready));
    const hash = openMap(maps.hash);
    const uPresent = new Uint8Array(USER_KEYS);
    const uLast = new Float64Array(USER_KEYS);
    const step = { n: 0 };
    const userErrors: string[] = [];
    let finished = false;
    const all = Promise.all(workers.map((w) => w.done)).finally(() => { finished = true; });
    all.catch(() => undefined);

    Atomics.store(new Int32Array(go), 0, 1);
    Atomics.notify(new Int32Array(go), 0);
    let batches = 0;
    while (!finished) {
      userSpaceBatch(hash, uPresent, uLast, step, userErrors);
      batches++;
      await new Promise((res) => setImmediate(res));
    }
    const results = await all;

    /* every operation's errno was the one it had to be */
    for (const r of results) assert.deepEqual(r.firstMismatches, [], `cpu ${r.cpu}: ${r.mismatches} mismatches`);
    assert.deepEqual(userErrors.slice(0, 10), []);
    assert.ok(batches > 1, 'user space ran while the CPUs did');

    /* atomics are exact; per-CPU counters are exact without them */
    const arr = new MapHandle(openMap(maps.arr));
    const c = arr.lookup(0)!;
    const cdv = new DataView(c.buffer);
    assert.equal(cdv.getBigUint64(0, true), BigInt(NCPUS * ITERS));
    assert.equal(cdv.getUint32(8, true), NCPUS * ITERS);
    assert.equal(arr.lookupU64(1), NCPUS * Math.ceil(ITERS / 1000) * BIG_ADD);
    const pcpu = new MapHandle(openMap(maps.pcpu));
    assert.deepEqual(pcpu.lookupPerCpu(0)!.map((b) => new DataView(b.buffer).getUint32(0, true)), new Array(NCPUS).fill(ITERS));
    assert.equal(pcpu.lookupU64(0), NCPUS * ITERS);

    /* the hash holds exactly what the operations said */
    const h = new MapHandle(hash);
    for (const r of results) {
      for (let k = 0; k < DISJOINT; k++) {
        const v = h.lookup(disjointKey(r.cpu, k));
        if (!r.present[k]) assert.equal(v, null, `cpu ${r.cpu} key ${k}`);
        else {
          assert.ok(v, `cpu ${r.cpu} key ${k} missing`);
          const dv = new DataView(v.buffer);
          assert.deepEqual([dv.getUint32(0, true), dv.getUint32(4, true)], [r.last[k], r.cpu], `cpu ${r.cpu} key ${k}`);
        }
      }
    }
    for (let k = 0; k < USER_KEYS; k++) {
      const v = h.lookupU64(userKey(k));
      assert.equal(v, uPresent[k] ? uLast[k] : null, `user key ${k}`);
    }
    let ovPresent = 0;
    for (let k = 0; k < OVERLAP; k++) if (h.lookup(overlapKey(k)) !== null) ovPresent++;
    const ovIns = results.reduce((s, r) => s + r.ovIns, 0);
    const ovDel = results.reduce((s, r) => s + r.ovDel, 0);
    assert.equal(ovIns - ovDel, ovPresent, 'overlapping keys: inserts - deletes = present');
    assert.ok(ovIns > 1000 && results.every((r) => r.ovUpd > 100), 'the overlapping keys were really fought over');

    const keys = keysOf(h);
    assert.equal(new Set(keys).size, keys.length, 'get_next_key gives each key once');
    const expectCount = results.reduce((s, r) => s + r.present.reduce((a, b) => a + b, 0), 0) +
      uPresent.reduce((a, b) => a + b, 0) + ovPresent;
    assert.equal(keys.length, expectCount);
    assert.ok(hash instanceof HashMap);
    assert.equal(hash.elemCount(), expectCount);

    const small = new MapHandle(openMap(maps.small));
    const smKeys = keysOf(small);
    const smIns = results.reduce((s, r) => s + r.smIns, 0);
    const smDel = results.reduce((s, r) => s + r.smDel, 0);
    assert.equal(smIns - smDel, smKeys.length, 'small map: inserts - deletes = present');
    assert.ok(smKeys.length <= SMALL_MAX);
    assert.ok(results.every((r) => r.smFull > 0), 'every CPU met a full map');

    /* no element leaked or was freed twice: empty the maps, fill them to max_entries exactly */
    for (const [m, max] of [[h, HASH_MAX], [small, SMALL_MAX]] as const) {
      for (const k of keysOf(m)) m.delete(k);
      assert.equal(keysOf(m).length, 0);
      for (let k = 0; k < max; k++) m.update(k + 1, k, BPF_NOEXIST);
      assert.throws(() => m.update(max + 1, 0, BPF_NOEXIST), (e: { errno: number }) => e.errno === E2BIG);
      for (let k = 0; k < max; k++) m.update(k + 1, k + 7, BPF_EXIST);
      assert.equal(m.lookupU64(max), max - 1 + 7);
      assert.equal(keysOf(m).length, max);
    }
  } finally {
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
});
