/*
 * Devices: ifindex allocation (lo is 1), names, MTU checks, up/down (a
 * down device drops what it still receives: DEV_READY), a sink that counts
 * and frees what it transmits, and xdp_features.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EEXIST, EINVAL, ENODEV, NETDEV_XDP_ACT_NDO_XMIT, NETDEV_XDP_ACT_NDO_XMIT_SG, XDP_TX, devmapVal,
} from '../src/index.ts';
import { fixture, withRuntime } from './helpers.ts';

test('registry: ifindexes, names, MTU, queues', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    assert.equal(rt.device('lo').ifindex, 1);
    const [a, b] = rt.createVeth('rga', 'rgb', { rxQueues: 3 });
    assert.deepEqual([a.ifindex, b.ifindex], [2, 3]);
    assert.equal(a.peer!.name, 'rgb');
    assert.equal(a.rxQueueCpus.length, 3);
    const s = rt.createSink('rgs');
    assert.equal(s.ifindex, 4);
    assert.throws(() => rt.createSink('rgs'), { errno: EEXIST });
    assert.throws(() => rt.createSink('a name too long'), { errno: EINVAL });
    assert.throws(() => rt.createVeth('rgc', 'rgd', { mtu: 40 }), { errno: EINVAL });
    assert.throws(() => rt.createVeth('rgc', 'rgd', { cpus: [0, 5] }), { errno: EINVAL });
    assert.throws(() => rt.device('nope'), { errno: ENODEV });
    assert.throws(() => a.setMtu(70000), { errno: EINVAL });
    a.setMtu(9000);
    assert.equal(a.mtu, 9000);
    assert.equal(s.xdpFeatures & (NETDEV_XDP_ACT_NDO_XMIT | NETDEV_XDP_ACT_NDO_XMIT_SG), NETDEV_XDP_ACT_NDO_XMIT | NETDEV_XDP_ACT_NDO_XMIT_SG);
    await assert.rejects(() => rt.deleteDevice('lo'), { errno: EINVAL });
    await a.delete();
    assert.throws(() => rt.device('rgb'), { errno: ENODEV });
    /* ifindexes are not reused */
    assert.equal(rt.createSink('rgt').ifindex, 5);
  });
});

test('a sink transmits (counts, frees) what is redirected or sent to it; a down one refuses', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [in0] = rt.createVeth('ska', 'skb', { rxQueues: 2 });
    const sink = rt.createSink('sk0');
    const obj = await rt.loadObject(fixture('prog-redirect.ts'));
    obj.maps.tx!.update(0, devmapVal(sink.ifindex));
    in0.attachXdp(obj.progs.xdp_redir!);
    await in0.inject({ count: 500, size: 100, flows: 8 });
    assert.equal(await rt.quiesce(), true);
    let s = sink.stats();
    assert.deepEqual([s.tx_packets, s.tx_bytes, s.xmit_consumed], [500, 50_000, 500]);
    sink.down();
    await in0.inject({ count: 10 });
    assert.equal(await rt.quiesce(), true);
    s = sink.stats();
    assert.equal(s.tx_packets, 500);
    assert.equal(in0.stats().dropReasons.REDIRECT_ERR, 10);
    const st = await rt.stop();
    assert.equal(st.totals.xmit_consumed, 500);
    assert.equal(st.conserved, true);
  });
});

test('XDP_TX bulks: a poll of 40 frames sends 16, 16 and 8; a down device drops what it still receives', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [a, b] = rt.createVeth('dda', 'ddb', { rxQueues: 1, cpus: [0] }, { rxQueues: 1, cpus: [1] });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_TX);
    a.attachXdp(obj.progs.verdict!);
    const two = await rt.loadObject(fixture('prog-two.ts'));
    b.attachXdp(two.progs.prog_a!);
    rt.clearTraceEvents();
    await a.inject({ count: 40 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(rt.traceEvents('xdp_bulk_tx').map((e) => [e.sent, e.drops, e.err]), [[16, 0, 0], [16, 0, 0], [8, 0, 0]]);
    assert.equal(b.stats().rx_packets, 40);
    /* frames already in a ring when the device goes down are dropped as DEV_READY */
    const [c] = rt.createVeth('ddc', 'ddd', { rxQueues: 1, cpus: [1] });
    const [busy] = rt.createVeth('dde', 'ddf', { rxQueues: 1, cpus: [1] });
    busy.attachXdp((await rt.loadObject(fixture('prog-spin.ts'))).progs.spin!);
    /* CPU 1 spends 300 ms in a program on `busy`: c's frames wait in c's ring meanwhile */
    await busy.inject({ count: 1 });
    await new Promise((r) => setTimeout(r, 50));
    await c.inject({ count: 100 });
    c.down();
    assert.equal(await rt.quiesce(), true);
    const s = c.stats();
    assert.equal(s.rx_packets, 100);
    assert.equal(s.dropReasons.DEV_READY, 100);
    assert.equal(s.stack, 0);
  });
});
