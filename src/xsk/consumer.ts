/*
 * An AF_XDP user-space consumer in its own thread, like xdpsock's rxdrop
 * and l2fwd: it attaches to a socket's rings (XdpSocketView.attach) and
 *  - rxdrop: takes RX descriptors and gives their chunks back to the fill
 *    ring;
 *  - echo: swaps the Ethernet addresses of each received frame and sends it
 *    back on the TX ring (kicking the socket), and gives completed chunks
 *    back to the fill ring.
 * It runs until its stop word is set, spinning briefly and then sleeping on
 * the RX ring's producer word (the kernel side notifies it at xsk_flush).
 * Counters (frames received, sent) are in its control words for the
 * starter to read. Start it with startXskConsumer() (main thread).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { XdpSocketView, type XskShared } from './socket.ts';

export type XskConsumerMode = 'rxdrop' | 'echo';

const C_STOP = 0;
const C_RX = 1;
const C_TX = 2;
const C_READY = 3;

export interface XskConsumer {
  readonly mode: XskConsumerMode;
  /** frames taken from the RX ring, and sent back (echo) */
  counts(): { rx: number; tx: number };
  /** stop the thread (it returns every chunk it holds to nothing: the socket is to be closed after) */
  stop(): Promise<void>;
}

/** Start a consumer thread on socket `s` (its fill ring is filled with every chunk first, as xdpsock does). */
export async function startXskConsumer(s: XskShared, mode: XskConsumerMode): Promise<XskConsumer> {
  const ctl = new SharedArrayBuffer(16);
  const w = new Int32Array(ctl);
  const boot = new URL('./consumer-boot.mjs', import.meta.url);
  const worker = new Worker(boot, { workerData: { s, mode, ctl }, name: `xdpsim-xsk${s.id}` });
  const exited = new Promise<void>((r) => worker.once('exit', () => r()));
  const t0 = performance.now();
  while (Atomics.load(w, C_READY) === 0 && performance.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 2));
  return {
    mode,
    counts: () => ({ rx: Atomics.load(w, C_RX) >>> 0, tx: Atomics.load(w, C_TX) >>> 0 }),
    stop: async () => {
      Atomics.store(w, C_STOP, 1);
      const rx = new Int32Array(s.rx!.sab);
      Atomics.notify(rx, 0);
      await exited;
    },
  };
}

function run(s: XskShared, mode: XskConsumerMode, w: Int32Array): void {
  const x = XdpSocketView.attach(s);
  const rx = x.rx!;
  const fill = x.fill;
  const umem = x.umem;
  const chunk = umem.chunkSize;
  const nchunks = umem.chunks;
  /* echo keeps half the chunks for TX in flight; everything else starts on the fill ring */
  const toFill = Math.min(fill.entries, mode === 'echo' ? nchunks >> 1 : nchunks);
  const n0 = fill.reserve(toFill);
  for (let i = 0; i < n0; i++) fill.setAddr(fill.idx + i, i * chunk);
  fill.submit(n0);
  Atomics.store(w, C_READY, 1);
  const bytes = umem.bytes;
  let idle = 0;
  while (Atomics.load(w, C_STOP) === 0) {
    let did = 0;
    if (mode === 'echo') {
      /* completions: their chunks go back to the fill ring */
      const c = x.comp.peek(64);
      if (c > 0) {
        if (fill.reserve(c) === c) {
          for (let i = 0; i < c; i++) fill.setAddr(fill.idx + i, umem.chunkOf(x.comp.addr(x.comp.idx + i)));
          fill.submit(c);
          x.comp.release(c);
        } else x.comp.cancel(c);
        did += c;
      }
    }
    const n = rx.peek(64);
    if (n > 0) {
      if (mode === 'rxdrop') {
        const k = fill.reserve(n);
        for (let i = 0; i < k; i++) fill.setAddr(fill.idx + i, umem.chunkOf(rx.descAddr(rx.idx + i)));
        fill.submit(k);
        if (k < n) rx.cancel(n - k);
        rx.release(k);
        Atomics.add(w, C_RX, k);
      } else {
        const tx = x.tx!;
        const k = tx.reserve(n) === n ? n : 0;
        for (let i = 0; i < k; i++) {
          const a = rx.descAddr(rx.idx + i);
          const len = rx.descLen(rx.idx + i);
          /* swap the Ethernet addresses */
          for (let b = 0; b < 6; b++) {
            const t = bytes[a + b]!;
            bytes[a + b] = bytes[a + 6 + b]!;
            bytes[a + 6 + b] = t;
          }
          tx.setDesc(tx.idx + i, a, len, 0);
        }
        if (k > 0) {
          tx.submit(k);
          rx.release(k);
          x.sendto();
          Atomics.add(w, C_RX, k);
          Atomics.add(w, C_TX, k);
        } else rx.cancel(n);
      }
      did += n;
    }
    if (did > 0) {
      idle = 0;
      continue;
    }
    if (++idle < 2000) continue;
    Atomics.wait(rx.words, 0, rx.producer() | 0, 5);
  }
}

if (!isMainThread && parentPort !== null && (workerData as { s?: XskShared })?.s !== undefined) {
  const d = workerData as { s: XskShared; mode: XskConsumerMode; ctl: SharedArrayBuffer };
  run(d.s, d.mode, new Int32Array(d.ctl));
}
