/*
 * XSKMAP and AF_XDP sockets (net/xdp/xskmap.c, net/xdp/xsk.c, copy mode):
 * every errno of the map and of bind, delivery to the socket of the
 * frame's queue with the descriptor and bytes checked, an empty fill ring,
 * a full RX ring, a wrong queue, a frame larger than a chunk, TX and
 * completion (with an invalid descriptor and more than one batch), close,
 * XDP_STATISTICS, and conservation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BPF_EXIST, BPF_MAP_TYPE_XSKMAP, BPF_NOEXIST, E2BIG, EBADF, EBUSY, EEXIST, EINVAL, ENOBUFS, ENODEV, ENOENT, ENOMEM, ENOSPC,
  EOPNOTSUPP, Runtime, Umem, XDP_COPY, XDP_USE_SG, XDP_ZEROCOPY, buildUdp4, checkUdp4, type BpfObject, type Device, type XdpSocket,
} from '../src/index.ts';
import { fixture } from './helpers.ts';

const u32 = (v: number): Uint8Array => new Uint8Array(new Uint32Array([v]).buffer);

function fill(s: XdpSocket, n: number, from = 0): void {
  assert.equal(s.fill.reserve(n), n);
  for (let i = 0; i < n; i++) s.fill.setAddr(s.fill.idx + i, (from + i) * s.umem.chunkSize);
  s.fill.submit(n);
}

/*
 * Take every address on the completion ring: peek and release until a peek
 * finds none. A user ring reloads the shared producer only when its cache is
 * empty (xsk_cons_nb_avail), so one peek after a first look can return a
 * stale count: the ring is read until it is empty.
 */
function compAll(s: XdpSocket): number[] {
  const out: number[] = [];
  for (let k = s.comp.peek(1 << 20); k > 0; k = s.comp.peek(1 << 20)) {
    for (let i = 0; i < k; i++) out.push(s.comp.addr(s.comp.idx + i));
    s.comp.release(k);
  }
  return out;
}

/*
 * Wait (10 s deadline) until at least n addresses have completed since the
 * last call, then until the data path is quiescent, and return every
 * completed address: the ones that came after the first n too, so a test
 * sees any extra completion.
 */
async function completions(rt: Runtime, s: XdpSocket, n: number, what: string): Promise<number[]> {
  const out: number[] = [];
  const t0 = performance.now();
  for (;;) {
    out.push(...compAll(s));
    if (out.length >= n) break;
    if (performance.now() - t0 > 10_000) {
      assert.fail(`waited 10 s for ${n} completions (${what}): got ${out.length}; tx_packets ${s.counters().tx_packets}, tx_err ${s.counters().tx_err}, still kicked ${s.txKicked}`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal(await rt.quiesce(10_000), true, `the data path did not go quiescent within 10 s after ${what}`);
  out.push(...compAll(s));
  return out;
}

function rxAll(s: XdpSocket): Array<{ addr: number; len: number; bytes: Uint8Array }> {
  const out: Array<{ addr: number; len: number; bytes: Uint8Array }> = [];
  const rx = s.rx!;
  const n = rx.peek(1 << 20);
  for (let i = 0; i < n; i++) {
    const addr = rx.descAddr(rx.idx + i);
    const len = rx.descLen(rx.idx + i);
    out.push({ addr, len, bytes: s.umem.bytes.slice(addr, addr + len) });
  }
  rx.release(n);
  return out;
}

test('AF_XDP', async (t) => {
  const rt = await Runtime.start({ cpus: 2 });
  t.after(() => rt.stop());
  let obj: BpfObject;
  let dev: Device;
  let n = 0;
  const newDev = (queues = 2): Device => {
    const [d, p] = rt.createVeth(`xs${n}`, `xp${n}`, { rxQueues: queues, cpus: queues === 2 ? [0, 1] : [0] }, { rxQueues: 1, cpus: [1] });
    n++;
    void p;
    return d;
  };

  await t.test('XSKMAP: create and update errnos, no lookup from user space', async () => {
    assert.throws(() => rt.createMap({ type: BPF_MAP_TYPE_XSKMAP, keySize: 4, valueSize: 8, maxEntries: 4 }), { errno: EINVAL });
    assert.throws(() => rt.createMap({ type: BPF_MAP_TYPE_XSKMAP, keySize: 4, valueSize: 4, maxEntries: 0 }), { errno: EINVAL });
    obj = await rt.loadObject(fixture('prog-xsk.ts'));
    dev = newDev();
    const m = obj.maps.xsks_map!;
    const umem = new Umem({ size: 64 * 4096 });
    const s = await rt.xskSocket({ dev, queueId: 0, umem });
    assert.throws(() => m.update(0, u32(s.id), 3), { errno: EINVAL });
    assert.throws(() => m.update(4, u32(s.id)), { errno: E2BIG });
    assert.throws(() => m.update(0, u32(999)), { errno: EBADF });
    assert.throws(() => m.update(0, u32(s.id), BPF_EXIST), { errno: ENOENT });
    m.update(0, u32(s.id), BPF_NOEXIST);
    m.update(0, u32(s.id), BPF_NOEXIST); /* the same socket again: fine */
    const s2 = await rt.xskSocket({ dev, queueId: 1, umem: new Umem({ size: 16 * 4096 }) });
    assert.throws(() => m.update(0, u32(s2.id), BPF_NOEXIST), { errno: EEXIST });
    assert.throws(() => m.lookup(0), { errno: EOPNOTSUPP });
    assert.throws(() => m.delete(4), { errno: EINVAL });
    m.delete(3);
    assert.deepEqual([...m.keys()].map((k) => k[0]), [0, 1, 2, 3]);
    /* a closed socket leaves the map and cannot be added again */
    await s.close();
    assert.throws(() => m.update(0, u32(s.id)), { errno: EBADF });
    await s2.close();
  });

  await t.test('bind: the kernel\'s errnos', async () => {
    const d = newDev();
    const umem = new Umem({ size: 16 * 4096 });
    await assert.rejects(rt.xskSocket({ dev: d, queueId: 0, umem, rxSize: 3 }), { errno: EINVAL });
    await assert.rejects(rt.xskSocket({ dev: d, queueId: 0, umem, fillSize: 0 }), { errno: EINVAL });
    await assert.rejects(rt.xskSocket({ dev: d, queueId: 0, umem, rxSize: 0, txSize: 0 }), { errno: EINVAL });
    await assert.rejects(rt.xskSocket({ dev: 'nosuch', queueId: 0, umem }), { errno: ENODEV });
    await assert.rejects(rt.xskSocket({ dev: d, queueId: 2, umem }), { errno: EINVAL });
    await assert.rejects(rt.xskSocket({ dev: d, queueId: 0, umem, bindFlags: 1 << 7 }), { errno: EINVAL });
    await assert.rejects(rt.xskSocket({ dev: d, queueId: 0, umem, bindFlags: XDP_COPY | XDP_ZEROCOPY }), { errno: EINVAL });
    await assert.rejects(rt.xskSocket({ dev: d, queueId: 0, umem, bindFlags: XDP_ZEROCOPY }), { errno: EOPNOTSUPP });
    const s = await rt.xskSocket({ dev: d, queueId: 0, umem, bindFlags: XDP_COPY });
    await assert.rejects(rt.xskSocket({ dev: d, queueId: 0, umem: new Umem({ size: 16 * 4096 }) }), { errno: EBUSY });
    await s.close();
    /* the queue is free again */
    const s2 = await rt.xskSocket({ dev: d, queueId: 0, umem });
    await s2.close();
  });

  await t.test('RX: each queue\'s frames reach its socket, copied whole into fill-ring chunks', async () => {
    const d = newDev();
    d.attachXdp(obj.progs.xdp_sock!);
    obj.maps.cfg!.update(0, 0);
    const socks = [
      await rt.xskSocket({ dev: d, queueId: 0, umem: new Umem({ size: 128 * 4096 }) }),
      await rt.xskSocket({ dev: d, queueId: 1, umem: new Umem({ size: 128 * 4096, headroom: 64 }) }),
    ];
    socks.forEach((s, i) => obj.maps.xsks_map!.update(i, u32(s.id)));
    for (const s of socks) fill(s, 100);
    rt.clearTraceEvents();
    const r = await d.inject({ count: 60, flows: 16, size: 128 });
    assert.equal(r.sent, 60);
    assert.equal(await rt.quiesce(), true);
    let total = 0;
    socks.forEach((s, qi) => {
      const got = rxAll(s);
      total += got.length;
      got.forEach((g, i) => {
        /* aligned mode: chunk i of the fill ring, plus the UMEM headroom and XDP_PACKET_HEADROOM */
        assert.equal(g.addr, i * 4096 + (qi === 1 ? 64 : 0) + 256);
        assert.equal(g.len, 128);
        assert.deepEqual(checkUdp4(g.bytes), { ip: true, udp: true });
      });
      assert.equal(s.counters().rx_packets, got.length);
      assert.deepEqual(s.statistics(), { rx_dropped: 0, rx_invalid_descs: 0, tx_invalid_descs: 0, rx_ring_full: 0, rx_fill_ring_empty_descs: 0, tx_ring_empty_descs: 0 });
      assert.equal(d.stats().perCpu[qi]!.xsk_rx, got.length);
    });
    assert.equal(total, 60);
    assert.ok(socks.every((s) => s.counters().rx_packets > 0), 'both queues received');
    assert.equal(d.stats().xsk_rx, 60);
    assert.equal(rt.traceEvents('xdp_redirect_err').length, 0);
    assert.equal(rt.stats().conserved, true);
    for (const s of socks) await s.close();
  });

  await t.test('an empty fill ring, a full RX ring, a wrong queue, a frame too big: errs, stats, drops', async () => {
    const d = newDev(1);
    d.attachXdp(obj.progs.xdp_sock!);
    const s = await rt.xskSocket({ dev: d, queueId: 0, umem: new Umem({ size: 32 * 2048, chunkSize: 2048, headroom: 1024 }), rxSize: 4 });
    obj.maps.xsks_map!.update(0, u32(s.id));
    obj.maps.cfg!.update(0, 0);
    const errs = (): number[] => rt.traceEvents('xdp_redirect_err').filter((e) => e.ifindex === d.ifindex).map((e) => e.err as number);
    /* 3 chunks for 5 frames: 2 find the fill ring empty */
    fill(s, 3);
    await rt.setTracepoints(['xdpsim_xsk_drop'], true);
    rt.clearTraceEvents();
    await d.inject({ count: 5 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(errs(), [-ENOMEM, -ENOMEM]);
    /* xdpsim's own record names the socket */
    assert.deepEqual(rt.traceEvents('xdpsim_xsk_drop').map((e) => [e.ifindex, e.queue_id, e.xsk, e.err, e.len]),
      [[d.ifindex, 0, s.id, -ENOMEM, 64], [d.ifindex, 0, s.id, -ENOMEM, 64]]);
    await rt.setTracepoints(['xdpsim_xsk_drop'], false);
    assert.equal(rxAll(s).length, 3);
    assert.deepEqual(s.statistics(), { rx_dropped: 2, rx_invalid_descs: 0, tx_invalid_descs: 0, rx_ring_full: 0, rx_fill_ring_empty_descs: 2, tx_ring_empty_descs: 0 });
    assert.equal(d.stats().dropReasons.REDIRECT_ERR, 2);
    /* an RX ring of 4 and 10 frames: 6 find it full; their fill entries stay for the next frames */
    fill(s, 16, 3);
    rt.clearTraceEvents();
    await d.inject({ count: 10 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(errs(), Array(6).fill(-ENOBUFS));
    assert.equal(s.statistics().rx_ring_full, 6);
    const got = rxAll(s);
    assert.deepEqual(got.map((g) => g.addr), [3, 4, 5, 6].map((c) => c * 2048 + 1024 + 256));
    /* a frame longer than chunk_size - headroom - 256 (768): -ENOSPC and rx_dropped */
    rt.clearTraceEvents();
    await d.inject({ count: 1, size: 800 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(errs(), [-ENOSPC]);
    assert.equal(s.statistics().rx_dropped, 3);
    /* the socket of another queue: -EINVAL, and its stats do not move */
    const d2 = newDev();
    const s2 = await rt.xskSocket({ dev: d2, queueId: 1, umem: new Umem({ size: 16 * 4096 }) });
    fill(s2, 8);
    obj.maps.xsks_map!.update(1, u32(s2.id));
    obj.maps.cfg!.update(0, 2); /* key 1 for every frame */
    rt.clearTraceEvents();
    await d.inject({ count: 4 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(errs(), Array(4).fill(-EINVAL));
    assert.equal(s2.counters().rx_packets, 0);
    assert.deepEqual(s2.statistics().rx_dropped, 0);
    const ev = rt.traceEvents('xdp_redirect_err')[0]!;
    assert.deepEqual([ev.map_id, ev.map_index, ev.to_ifindex], [obj.maps.xsks_map!.id, 1, 0]);
    obj.maps.cfg!.update(0, 0);
    assert.equal(rt.stats().conserved, true);
    await s.close();
    await s2.close();
  });

  await t.test('TX: descriptors leave by the bound device, their addresses complete; bad ones are counted', async () => {
    const [a, b] = rt.createVeth('xta', 'xtb', { rxQueues: 1, cpus: [0] }, { rxQueues: 1, cpus: [1] });
    const s = await rt.xskSocket({ dev: a, queueId: 0, umem: new Umem({ size: 64 * 2048, chunkSize: 2048 }), rxSize: 0 });
    const tx = s.tx!;
    const pkt = buildUdp4({ size: 100, srcPort: 7 });
    const N = 40;
    assert.equal(tx.reserve(N + 1), N + 1);
    for (let i = 0; i < N; i++) {
      s.umem.bytes.set(pkt, i * 2048);
      tx.setDesc(tx.idx + i, i * 2048, pkt.length, 0);
    }
    /* a zero-length descriptor: invalid */
    tx.setDesc(tx.idx + N, N * 2048, 0, 0);
    tx.submit(N + 1);
    s.sendto();
    const addrs = await completions(rt, s, N, `${N} valid descriptors and an invalid one`);
    assert.deepEqual(addrs, Array.from({ length: N }, (_, i) => i * 2048));
    assert.equal(s.counters().tx_packets, N);
    const st = s.statistics();
    assert.equal(st.tx_invalid_descs, 1);
    /* more than XSK_TX_BATCH_SIZE (32): a second round sent the rest; the invalid descriptor ended it (no empty peek) */
    assert.equal(st.tx_ring_empty_descs, 0);
    assert.equal(a.stats().xsk_tx, N);
    assert.equal(a.stats().tx_packets, N);
    assert.equal(b.stats().stack, N);
    /* an invalid descriptor in the middle ends the call: the one after it waits for the next sendto() */
    assert.equal(tx.reserve(3), 3);
    tx.setDesc(tx.idx, 0, pkt.length, 0);
    tx.setDesc(tx.idx + 1, 1 << 30, pkt.length, 0);
    tx.setDesc(tx.idx + 2, 2048, pkt.length, 0);
    tx.submit(3);
    const sendAndWait = async (n: number): Promise<number[]> => {
      s.sendto();
      return completions(rt, s, n, `sendto() expecting ${n}`);
    };
    assert.deepEqual(await sendAndWait(1), [0]);
    assert.equal(s.statistics().tx_invalid_descs, 2);
    assert.deepEqual(await sendAndWait(1), [2048]);
    assert.equal(s.statistics().tx_ring_empty_descs, 1);
    /* a refused transmit (the peer is down): the frame is dropped, its address completes, the call ends there */
    b.down();
    assert.equal(tx.reserve(2), 2);
    tx.setDesc(tx.idx, 0, pkt.length, 0);
    tx.setDesc(tx.idx + 1, 2048, pkt.length, 0);
    tx.submit(2);
    assert.deepEqual(await sendAndWait(1), [0]);
    assert.equal(s.counters().tx_err, 1);
    assert.equal(a.stats().dropReasons.XSK_TX_ERR, 1);
    b.up();
    assert.deepEqual(await sendAndWait(1), [2048]);
    /* a full completion ring: nothing is sent until the application makes room and calls sendto() again */
    const c2 = await rt.xskSocket({ dev: b, queueId: 0, umem: new Umem({ size: 16 * 2048, chunkSize: 2048 }), rxSize: 0, txSize: 8, compSize: 2 });
    const tx2 = c2.tx!;
    assert.equal(tx2.reserve(4), 4);
    for (let i = 0; i < 4; i++) {
      c2.umem.bytes.set(pkt, i * 2048);
      tx2.setDesc(tx2.idx + i, i * 2048, pkt.length, 0);
    }
    tx2.submit(4);
    c2.sendto();
    assert.deepEqual(await completions(rt, c2, 2, 'a first sendto() with a completion ring of 2'), [0, 2048]);
    assert.equal(c2.counters().tx_packets, 2);
    /* the ring is empty again (compAll released it): room for the other two */
    c2.sendto();
    assert.deepEqual(await completions(rt, c2, 2, 'a second sendto() after room was made'), [2 * 2048, 3 * 2048]);
    assert.equal(c2.counters().tx_packets, 4);
    assert.equal(rt.stats().conserved, true);
    await c2.close();
    await s.close();
  });

  await t.test('a deleted device unbinds its sockets; XDP_USE_SG is not modelled', async () => {
    const d = newDev(1);
    d.attachXdp(obj.progs.xdp_sock!);
    const s = await rt.xskSocket({ dev: d, queueId: 0, umem: new Umem({ size: 16 * 4096 }) });
    await assert.rejects(rt.xskSocket({ dev: newDev(1), queueId: 0, umem: new Umem({ size: 16 * 4096 }), bindFlags: XDP_USE_SG }), { errno: EOPNOTSUPP });
    await rt.deleteDevice(d);
    assert.equal(s.bound, false);
    assert.equal(s.closed, false);
    await s.close();
    assert.equal(s.closed, true);
  });

  await t.test('close: out of the map, the program falls back to XDP_PASS', async () => {
    const d = newDev(1);
    d.attachXdp(obj.progs.xdp_sock_lookup!);
    const s = await rt.xskSocket({ dev: d, queueId: 0, umem: new Umem({ size: 16 * 4096 }) });
    fill(s, 8);
    obj.maps.xsks_map!.update(0, u32(s.id));
    await d.inject({ count: 3 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(s.counters().rx_packets, 3);
    await s.close();
    await d.inject({ count: 3 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(d.stats().xdp_pass, 3);
    assert.equal(s.bound, false);
    assert.equal(rt.stats().conserved, true);
  });
});
