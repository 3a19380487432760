import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import {
  XDP_RING_NEED_WAKEUP, XSK_RING_CONS, XSK_RING_EMPTY, XSK_RING_FLAGS, XSK_RING_INVALID, XSK_RING_PROD,
  XskQueue, XskUserRing, createXskRing, xskRingBytes, type XskRingKind,
} from '../src/xsk/ring.ts';
import { Umem, XDP_PKT_CONTD } from '../src/xsk/umem.ts';

const ENOSPC = 28;

function pair(entries: number, kind: XskRingKind, start = 0): { sab: SharedArrayBuffer; u: XskUserRing; k: XskQueue } {
  const sab = createXskRing(entries, kind, start);
  return { sab, u: new XskUserRing(sab, 0, entries, kind), k: new XskQueue(sab, 0, entries, kind) };
}

test('layout: header words, entry sizes, entries validation', () => {
  assert.equal(XSK_RING_PROD, 0);
  assert.equal(XSK_RING_CONS, 16);
  assert.equal(XSK_RING_FLAGS, 32);
  assert.equal(XSK_RING_INVALID, 40);
  assert.equal(XSK_RING_EMPTY, 41);
  assert.equal(xskRingBytes(1, 'addr'), 192 + 8);
  assert.equal(xskRingBytes(8, 'addr'), 192 + 64);
  assert.equal(xskRingBytes(8, 'desc'), 192 + 128);
  for (const bad of [0, 3, 6, -2, 1.5, NaN, 2 ** 32]) {
    assert.throws(() => xskRingBytes(bad, 'addr'), RangeError, `entries ${bad}`);
    assert.throws(() => createXskRing(bad, 'desc'), RangeError);
  }
  assert.throws(() => xskRingBytes(4, 'x' as XskRingKind), RangeError);
  // A ring placed at an offset inside a bigger buffer; entries land after word 48.
  const sab = new SharedArrayBuffer(64 + xskRingBytes(2, 'desc'));
  const u = new XskUserRing(sab, 64, 2, 'desc');
  assert.equal(u.reserve(2), 2);
  u.setDesc(u.idx, 2 ** 40 + 3, 0xfffffffe, 0x80000001);
  u.setDesc(u.idx + 1, 9, 10, 11);
  u.submit(2);
  const w = new Int32Array(sab, 64);
  assert.equal(w[0], 2);
  assert.deepEqual([...w.subarray(48, 56)], [3, 256, -2, -0x7fffffff, 9, 0, 10, 11]);
  const k = new XskQueue(sab, 64, 2, 'desc');
  assert.equal(k.consPeek(), true);
  assert.equal(k.descAddr(k.idx), 2 ** 40 + 3);
  assert.equal(k.descLen(k.idx), 0xfffffffe);
  assert.equal(k.descOptions(k.idx), 0x80000001);
  // entries == 1 works
  const one = pair(1, 'addr');
  assert.equal(one.u.reserve(1), 1);
  assert.equal(one.u.reserve(1), 0);
});

test('user producer: reserve is all or nothing; kernel consumer publishes lazily', () => {
  const { u, k } = pair(8, 'addr');
  assert.equal(u.reserve(5), 5);
  assert.equal(u.idx, 0);
  for (let i = 0; i < 5; i++) u.setAddr(u.idx + i, 4096 * i);
  assert.equal(u.reserve(4), 0, 'only 3 free: all or nothing');
  assert.equal(u.reserve(3), 3);
  assert.equal(u.idx, 5);
  for (let i = 0; i < 3; i++) u.setAddr(u.idx + i, 4096 * (5 + i));
  assert.equal(k.consPeek(), false, 'nothing submitted yet');
  assert.equal(k.queueEmptyDescs, 1);
  u.submit(8);
  assert.equal(u.producer(), 8);
  assert.equal(k.consIsFull(), true);
  assert.equal(u.free(1), 0);
  assert.equal(k.consPeek(), true);
  assert.equal(k.idx, 0);
  assert.equal(k.consNbEntries(100), 8);
  const got: number[] = [];
  for (let i = 0; i < 8; i++) got.push(k.addr(k.idx + i));
  assert.deepEqual(got, [0, 4096, 8192, 12288, 16384, 20480, 24576, 28672]);
  k.consRelease(8);
  assert.equal(k.consumer(), 0, 'xskq_cons_release is local only');
  assert.equal(u.free(1), 0, 'the user producer sees no space before the kernel publishes');
  assert.equal(u.reserve(1), 0);
  assert.equal(k.consPeek(), false, 'cache empty: publishes, reloads, finds nothing');
  assert.equal(k.consumer(), 8);
  assert.equal(k.queueEmptyDescs, 2);
  assert.equal(k.queueEmptyDescsShared(), 2);
  assert.equal(u.free(1), 8);
  assert.equal(u.reserve(8), 8);
  // consPublish publishes without peeking; consCancel gives entries back.
  u.submit(8);
  assert.equal(k.consPeek(), true);
  k.consRelease(3);
  k.consCancel(1);
  k.consPublish();
  assert.equal(k.consumer(), 10);
  assert.equal(k.consHasEntries(6), true);
  assert.equal(k.consHasEntries(7), false);
});

test('user consumer: peek takes what is cached, reloads the producer only when empty', () => {
  const { u, k } = pair(4, 'desc');
  assert.equal(k.prodReserveDesc(100, 60, 0), 0);
  assert.equal(k.prodReserveDesc(200, 61, 0), 0);
  assert.equal(k.prodReserveDesc(300, 62, 0), 0);
  assert.equal(u.peek(4), 0, 'nothing submitted');
  k.prodSubmit();
  assert.equal(u.available(), 3);
  assert.equal(u.peek(2), 2);
  assert.equal(u.idx, 0);
  assert.deepEqual([u.descAddr(0), u.descLen(0), u.descAddr(1), u.descLen(1)], [100, 60, 200, 61]);
  assert.equal(k.prodReserveDesc(400, 63, 0), 0);
  assert.equal(k.prodReserveDesc(500, 64, 0), -ENOSPC, 'kernel producer: ring full');
  assert.equal(k.prodIsFull(), true);
  k.prodSubmit();
  assert.equal(u.peek(4), 1, 'partial: one cached entry, no reload while the cache is not empty');
  assert.equal(u.idx, 2);
  assert.equal(u.descAddr(u.idx), 300);
  assert.equal(u.peek(4), 1, 'cache empty: reload finds the fourth');
  assert.equal(u.descAddr(u.idx), 400);
  assert.equal(u.descLen(u.idx), 63);
  assert.equal(u.peek(4), 0);
  u.cancel(1);
  assert.equal(u.peek(4), 1, 'cancelled entry comes back');
  assert.equal(k.prodNbFree(4), 0, 'consumer not released yet');
  u.release(4);
  assert.equal(k.prodIsEmpty(), true);
  assert.equal(k.prodNbFree(4), 4);
  assert.equal(k.prodNbFree(2), 2);
  // reserve n then cancel, submit_n
  assert.equal(k.prodReserve(3), 0);
  assert.equal(k.idx, 4);
  k.prodCancel(1);
  k.setDesc(4, 1, 2, 3);
  k.setDesc(5, 4, 5, 6);
  k.prodSubmitN(1);
  assert.equal(k.producer(), 5);
  k.prodSubmitN(1);
  assert.equal(k.producer(), 6);
  assert.equal(u.peek(8), 2);
  assert.deepEqual([u.descAddr(4), u.descLen(4), u.descOptions(4), u.descAddr(5)], [1, 2, 3, 4]);
});

test('indexes wrap at 2^32 (both directions, counters started near 2^32)', () => {
  const start = 0xfffffffe;
  const rx = pair(4, 'desc', start);
  let seq = 0;
  let got = 0;
  for (let round = 0; round < 20; round++) {
    assert.equal(rx.k.prodReserve(3), 0);
    for (let i = 0; i < 3; i++) rx.k.setDesc(rx.k.idx + i, 2 ** 50 + seq, seq, 0), seq++;
    rx.k.prodSubmit();
    assert.equal(rx.u.peek(4), 3);
    for (let i = 0; i < 3; i++, got++) {
      assert.equal(rx.u.descAddr(rx.u.idx + i), 2 ** 50 + got);
      assert.equal(rx.u.descLen(rx.u.idx + i), got);
    }
    rx.u.release(3);
    assert.equal(rx.u.count(), 0);
  }
  assert.equal(rx.u.producer(), (start + 60) % 2 ** 32);
  assert.equal(rx.u.producer(), 58);
  assert.equal(rx.k.cachedProd, 58);
  assert.equal(rx.u.cachedCons, 58);

  const fq = pair(8, 'addr', 0xfffffff0);
  let next = 0;
  let expect = 0;
  for (let round = 0; round < 12; round++) {
    assert.equal(fq.u.reserve(5), 5);
    for (let i = 0; i < 5; i++) fq.u.setAddr(fq.u.idx + i, 2 ** 53 - 1 - next++);
    fq.u.submit(5);
    // fill level across the wrap
    assert.equal(fq.k.consNbEntries(100), 5);
    assert.equal(fq.k.consPeek(), true);
    for (let i = 0; i < 5; i++) assert.equal(fq.k.addr(fq.k.idx + i), 2 ** 53 - 1 - expect++);
    fq.k.consRelease(5);
    assert.equal(fq.k.consPeek(), false);
  }
  assert.equal(fq.u.consumer(), (0xfffffff0 + 60) % 2 ** 32);
  assert.equal(fq.u.free(8), 8);
});

test('full and empty', () => {
  const { u, k } = pair(16, 'desc');
  assert.equal(u.available(), 0);
  assert.equal(k.prodIsEmpty(), true);
  assert.equal(u.free(16), 16);
  assert.equal(u.reserve(17), 0);
  assert.equal(u.reserve(16), 16);
  assert.equal(u.reserve(1), 0);
  assert.equal(u.free(1), 0);
  u.submit(16);
  assert.equal(u.count(), 16);
  assert.equal(k.consIsFull(), true);
  assert.equal(k.consNbEntries(16), 16);
  k.consRelease(16);
  k.consGetEntries();
  assert.equal(u.count(), 0);
  assert.equal(u.free(16), 16);
});

test('TX ring: consPeekDesc validates against the UMEM and counts invalid_descs in the shared header', () => {
  const umem = new Umem({ size: 4 * 2048, chunkSize: 2048 });
  const { u, k } = pair(8, 'desc');
  assert.equal(u.reserve(4), 4);
  u.setDesc(u.idx, 0, 60, 0);
  u.setDesc(u.idx + 1, 2040, 60, 0); // crosses the chunk end
  u.setDesc(u.idx + 2, 4096, 60, XDP_PKT_CONTD);
  u.setDesc(u.idx + 3, 6144, 60, 4); // unknown option bit
  u.submit(4);
  const verdicts: boolean[] = [];
  while (k.consPeekDesc(umem) || k.hasDescs()) {
    verdicts.push(k.descLen(k.idx) === 60 && umem.validTxDesc(k.descAddr(k.idx), 60, k.descOptions(k.idx)));
    k.consRelease();
  }
  assert.deepEqual(verdicts, [true, false, true, false]);
  assert.equal(k.invalidDescs, 2);
  assert.equal(k.invalidDescsShared(), 2);
  assert.equal(new Int32Array(k.words.buffer)[XSK_RING_INVALID], 2);
  assert.equal(k.queueEmptyDescs, 1, 'the last consPeekDesc found the ring empty');
  assert.equal(k.consumer(), 4);
  k.countInvalid();
  assert.equal(u.invalidDescsShared(), 3);
});

test('need_wakeup flag: set and cleared by the kernel side, read by the user side', () => {
  const { u, k } = pair(4, 'addr');
  assert.equal(u.needsWakeup(), false);
  k.setNeedWakeup();
  assert.equal(u.needsWakeup(), true);
  assert.equal(u.words[XSK_RING_FLAGS], XDP_RING_NEED_WAKEUP);
  k.clearNeedWakeup();
  assert.equal(u.needsWakeup(), false);
});

interface Result { role: string; done: boolean; bad: number; firstBad: string; waits: number; ms: number; [k: string]: unknown }

async function runPair(roles: [string, string], entries: number, kind: XskRingKind, n: number, start: number): Promise<{ sab: SharedArrayBuffer; res: Result[] }> {
  const sab = createXskRing(entries, kind, start);
  const ctl = new SharedArrayBuffer(4);
  const boot = new URL('./fixtures/worker-boot.mjs', import.meta.url);
  const entry = new URL('./fixtures/xsk-ring-worker.ts', import.meta.url).href;
  const workers = roles.map((role, i) => new Worker(boot, {
    workerData: { entry, role, sab, ctl, entries, kind, n, seed: 12345 + i * 777, deadlineMs: 45_000 },
  }));
  try {
    let ready = 0;
    const done = workers.map((w) => new Promise<Result>((resolve, reject) => {
      w.on('message', (m: Result & { ready?: boolean }) => {
        if (m.ready) {
          if (++ready === workers.length) { Atomics.store(new Int32Array(ctl), 0, 1); Atomics.notify(new Int32Array(ctl), 0); }
        } else resolve(m);
      });
      w.on('error', reject);
      w.on('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
    }));
    return { sab, res: await Promise.all(done) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

const N = 1_000_000;

test('two threads: kernel producer -> user consumer, 1,000,000 descs through 256 entries, exactly once and in order', { timeout: 90_000 }, async (t) => {
  const start = 2 ** 32 - 300_000; // the indexes wrap mid-run
  const { sab, res } = await runPair(['kprod-desc', 'ucons-desc'], 256, 'desc', N, start);
  const [prod, cons] = res as [Result, Result];
  assert.equal(cons.bad, 0, cons.firstBad);
  const w = new Int32Array(sab);
  assert.equal(w[XSK_RING_PROD]! >>> 0, (start + N) % 2 ** 32);
  assert.equal(w[XSK_RING_CONS]! >>> 0, (start + N) % 2 ** 32, 'nothing left over: no duplicates');
  t.diagnostic(`desc ring kernel->user: ${Math.round(N / (cons.ms / 1000)).toLocaleString('en')} items/s ` +
    `(${cons.ms.toFixed(0)} ms; waits: producer ${prod.waits}, consumer ${cons.waits})`);
});

test('two threads: user producer -> kernel consumer (lazy publication), 1,000,000 addrs through 256 entries', { timeout: 90_000 }, async (t) => {
  const start = 2 ** 32 - 123_456;
  const { sab, res } = await runPair(['uprod-addr', 'kcons-addr'], 256, 'addr', N, start);
  const [prod, cons] = res as [Result, Result];
  assert.equal(cons.bad, 0, cons.firstBad);
  const w = new Int32Array(sab);
  assert.equal(w[XSK_RING_PROD]! >>> 0, (start + N) % 2 ** 32);
  assert.equal(w[XSK_RING_CONS]! >>> 0, (start + N) % 2 ** 32);
  t.diagnostic(`addr ring user->kernel: ${Math.round(N / (cons.ms / 1000)).toLocaleString('en')} items/s ` +
    `(${cons.ms.toFixed(0)} ms; waits: producer ${prod.waits}, consumer ${cons.waits}; ` +
    `reserve failures ${String(prod['reserveFails'])}, kernel empty peeks ${String(cons['queueEmptyDescs'])})`);
});
