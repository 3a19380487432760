import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { MpscRing, SpscRing, createRingBuffer } from '../src/shared/ring.ts';

test('SpscRing: FIFO order, full ring takes a prefix, indexes wrap', () => {
  const r = new SpscRing(createRingBuffer(8, false));
  const src = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(r.produce(src, 10), 8);
  assert.equal(r.count(), 8);
  const dst = new Int32Array(16);
  assert.equal(r.consume(dst, 3), 3);
  assert.deepEqual([...dst.subarray(0, 3)], [1, 2, 3]);
  assert.equal(r.produce(Int32Array.from([11, 12, 13, 14]), 4), 3);
  assert.equal(r.consume(dst, 16), 8);
  assert.deepEqual([...dst.subarray(0, 8)], [4, 5, 6, 7, 8, 11, 12, 13]);
  assert.equal(r.count(), 0);
  for (let i = 0; i < 1000; i++) {
    assert.equal(r.produce(Int32Array.from([i, i + 1]), 2), 2);
    assert.equal(r.consume(dst, 2), 2);
    assert.deepEqual([dst[0], dst[1]], [i, i + 1]);
  }
});

test('MpscRing: a full ring is a partial produce, the rest goes in later', () => {
  const r = new MpscRing(createRingBuffer(4, true));
  assert.equal(r.hasWork(), false);
  assert.equal(r.produce(Int32Array.from([5, 6, 7, 8, 9]), 0, 5), 4);
  assert.equal(r.produceOne(10), false);
  assert.equal(r.hasWork(), true);
  const dst = new Int32Array(4);
  assert.equal(r.consume(dst, 2), 2);
  assert.deepEqual([...dst.subarray(0, 2)], [5, 6]);
  assert.equal(r.produceOne(10), true);
  assert.equal(r.produce(Int32Array.from([0, 11, 12]), 1, 2), 1);
  assert.equal(r.consume(dst, 4), 4);
  assert.deepEqual([...dst], [7, 8, 10, 11]);
  assert.equal(r.count(), 0);
  assert.throws(() => createRingBuffer(6, true), /power of two/);
});

test('MpscRing: 4 producer threads, every descriptor exactly once and in per-producer order', async () => {
  const size = 64;
  const sab = createRingBuffer(size, true);
  const ring = new MpscRing(sab);
  const count = 50_000;
  const boot = new URL('./fixtures/worker-boot.mjs', import.meta.url);
  const entry = new URL('./fixtures/ring-producer.ts', import.meta.url).href;
  const workers = [0, 1, 2, 3].map((id) => new Worker(boot, { workerData: { entry, sab, id, count } }));
  const done = workers.map((w) => new Promise<{ full: number }>((res, rej) => { w.once('message', res); w.once('error', rej); }));
  const next = [0, 0, 0, 0];
  const dst = new Int32Array(32);
  let got = 0;
  let finished = false;
  void Promise.all(done).then(() => { finished = true; });
  while (got < 4 * count) {
    const n = ring.consume(dst, 32);
    for (let i = 0; i < n; i++) {
      const id = Math.floor(dst[i]! / 1_000_000);
      const seq = dst[i]! % 1_000_000;
      assert.equal(seq, next[id], `producer ${id} out of order`);
      next[id]!++;
    }
    got += n;
    if (n === 0) await new Promise((r) => setImmediate(r));
  }
  const res = await Promise.all(done);
  assert.equal(finished, true);
  assert.deepEqual(next, [count, count, count, count]);
  assert.equal(ring.count(), 0);
  /* the ring is small: producers must have met it full, and carried on */
  assert.ok(res.some((r) => r.full > 0));
  await Promise.all(workers.map((w) => w.terminate()));
});

test('both rings keep working across the int32 wrap of their indexes', () => {
  for (const mpsc of [false, true]) {
    const sab = createRingBuffer(8, mpsc);
    const a = new Int32Array(sab);
    a[0] = a[1] = 0x7ffffffa; /* 6 steps before 2^31 */
    const src = new Int32Array(8);
    const dst = new Int32Array(8);
    let next = 0;
    let expect = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 5; i++) src[i] = next++;
      const put = mpsc ? new MpscRing(sab).produce(src, 0, 5) : new SpscRing(sab).produce(src, 5);
      assert.equal(put, 5);
      const r = mpsc ? new MpscRing(sab) : new SpscRing(sab);
      assert.equal(r.count(), 5);
      const got = r.consume(dst, 8);
      assert.equal(got, 5);
      for (let i = 0; i < 5; i++) assert.equal(dst[i], expect++);
    }
    assert.ok(a[0]! < 0, 'the producer index went past 2^31');
  }
});

test('MpscRing: producers share one cached consumer index, reset with the ring, so no view overestimates the room', () => {
  const sab = createRingBuffer(8, true);
  const v = new MpscRing(sab);
  const w = new MpscRing(sab);
  const c = new MpscRing(sab);
  const out = new Int32Array(16);
  const arr = (xs: number[]): Int32Array => Int32Array.from(xs);
  assert.equal(w.produce(arr([100, 101, 102, 103]), 0, 4), 4);
  assert.equal(c.consume(out, 16), 4);
  assert.equal(v.produce(arr([300, 301, 302, 303]), 0, 4), 4);
  assert.equal(c.consume(out, 16), 4);
  /* the queue row is reused: its ring words are reset (DeviceRegistry.allocQueues), the views stay */
  new Int32Array(sab).fill(0, 0, 4);
  assert.equal(w.produce(arr([200, 201, 202, 203, 204, 205, 206, 207]), 0, 8), 8);
  /* the ring is full: v must see it, whatever it read before the reset */
  assert.equal(v.produce(arr([400, 401, 402, 403]), 0, 4), 0);
  const n = c.consume(out, 16);
  assert.deepEqual([...out.subarray(0, n)], [200, 201, 202, 203, 204, 205, 206, 207]);
  /* and a ring the consumer drained takes a full ring's worth from either view */
  assert.equal(v.produce(arr([1, 2, 3, 4, 5, 6, 7, 8, 9]), 0, 9), 8);
});
