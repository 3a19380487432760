/*
 * veth's ndo_xdp_xmit: a peer without an XDP program has no NAPI and
 * refuses (-ENXIO: every frame of the bulk dropped, recorded in
 * xdp_bulk_tx); a frame over the peer's MTU ends the send; a full peer ring
 * is a partial send. xdp_features: NDO_XMIT appears with the peer's program.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENXIO, NETDEV_XDP_ACT_NDO_XMIT, NETDEV_XDP_ACT_NDO_XMIT_SG, XDP_TX } from '../src/index.ts';
import { fixture, withRuntime } from './helpers.ts';
import { EINVAL } from '../src/shared/errno.ts';
import { DEFAULT_LIMITS, createSharedState } from '../src/shared/layout.ts';
import { traceRingBytes } from '../src/shared/trace.ts';
import { tapRingBytes } from '../src/shared/tap.ts';
import { DeviceRegistry } from '../src/driver/registry.ts';
import { NetDevices } from '../src/driver/netdev.ts';
import { FM_LEN, FM_WORDS, FramePool } from '../src/shared/frame-pool.ts';
import { DEV_TX_BYTES, DEV_TX_PACKETS, cpuCounters, devRow } from '../src/shared/counters.ts';

test('veth: XDP_TX to a peer without a program is refused with -ENXIO', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0, v1] = rt.createVeth('nxa', 'nxb', { rxQueues: 1, cpus: [0] });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_TX);
    v0.attachXdp(obj.progs.verdict!);
    assert.equal(v0.xdpFeatures & NETDEV_XDP_ACT_NDO_XMIT, 0);
    await v0.inject({ count: 40 });
    assert.equal(await rt.quiesce(), true);
    const s0 = v0.stats();
    assert.equal(s0.xdp_tx, 40);
    assert.equal(s0.xdp_tx_sent, 0);
    assert.equal(s0.xdp_tx_err, 40);
    assert.equal(s0.dropReasons.XDP_TX_ERR, 40);
    assert.equal(s0.tx_packets, 0);
    assert.equal(v1.stats().rx_packets, 0);
    const bulk = rt.traceEvents('xdp_bulk_tx');
    assert.ok(bulk.length >= 3);
    assert.equal(bulk.reduce((a, e) => a + (e.drops as number), 0), 40);
    for (const e of bulk) {
      assert.equal(e.err, -ENXIO);
      assert.equal(e.sent, 0);
      assert.equal(e.ifindex, v0.ifindex);
    }
    /* the peer gets a program: v0 can now transmit into it */
    const two = await rt.loadObject(fixture('prog-two.ts'));
    v1.attachXdp(two.progs.prog_a!);
    assert.equal(v0.xdpFeatures & (NETDEV_XDP_ACT_NDO_XMIT | NETDEV_XDP_ACT_NDO_XMIT_SG), NETDEV_XDP_ACT_NDO_XMIT | NETDEV_XDP_ACT_NDO_XMIT_SG);
    await v0.inject({ count: 40 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(v0.stats().xdp_tx_sent, 40);
    assert.equal(v1.stats().rx_packets, 40);
    v1.detachXdp();
    assert.equal(v0.xdpFeatures & NETDEV_XDP_ACT_NDO_XMIT, 0);
  });
});

test('veth: a down peer refuses; a frame over the peer MTU ends the send', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0, v1] = rt.createVeth('fra', 'frb', { rxQueues: 1, cpus: [0] }, { rxQueues: 1, cpus: [1] });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_TX);
    v0.attachXdp(obj.progs.verdict!);
    const two = await rt.loadObject(fixture('prog-two.ts'));
    v1.attachXdp(two.progs.prog_a!);
    v1.down(); /* a down peer has no NAPI: -ENXIO */
    await v0.inject({ count: 16 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(v0.stats().xdp_tx_err, 16);
    v1.up();
    v1.setMtu(100);
    rt.clearTraceEvents();
    /* 64-byte frames fit mtu 100 + 14 + 4; 200-byte ones do not */
    await v0.inject({ count: 1, size: 200 });
    assert.equal(await rt.quiesce(), true);
    const e = rt.traceEvents('xdp_bulk_tx');
    assert.equal(e.length, 1);
    assert.deepEqual([e[0]!.sent, e[0]!.drops, e[0]!.err], [0, 1, 0]);
  });
});

test('veth: a full peer ring is a partial send (ndo_xdp_xmit returns the prefix taken)', () => {
  /* no workers: the data path functions on the main thread, so no CPU drains the ring */
  const limits = { ...DEFAULT_LIMITS, cpus: 2 };
  const shared = createSharedState(limits, (l) => traceRingBytes(l.traceRingSize), (l) => tapRingBytes(l.tapRingSize, l.frameSize));
  const reg = new DeviceRegistry(shared);
  reg.createLoopback();
  const [a, b] = reg.createVeth('pa', 'pb', { rxQueues: 1, cpus: [0] }, { rxQueues: 2, cpus: [0, 1], ringSize: 4 });
  reg.attachXdp(b.ifindex, 99);
  const pool = new FramePool(shared.pool, 0);
  const devs = new NetDevices(shared, pool, cpuCounters(shared.counters, 0, limits.maxDevices));
  const frames = new Int32Array(16);
  for (let i = 0; i < 16; i++) {
    frames[i] = pool.alloc();
    pool.meta[frames[i]! * FM_WORDS + FM_LEN] = 60;
  }
  /* CPU 3 sends: veth_select_rxq picks peer queue 3 % 2 = 1 */
  assert.equal(devs.xdpXmit(a.ifindex, 3, frames, 0, 16, 0, true), 4);
  assert.equal(devs.ring(b.rxq[1]!).count(), 4);
  assert.equal(devs.ring(b.rxq[0]!).count(), 0);
  assert.equal(devs.xdpXmit(a.ifindex, 2, frames, 4, 12, 0, true), 4);
  assert.equal(devs.ring(b.rxq[0]!).count(), 4);
  assert.equal(devs.xdpXmit(a.ifindex, 2, frames, 8, 8, 0, true), 0);
  assert.equal(devs.xdpXmit(a.ifindex, 0, frames, 8, 8, 0x2, true), -EINVAL);
  const ctr = cpuCounters(shared.counters, 0, limits.maxDevices);
  assert.equal(ctr[devRow(a.ifindex) + DEV_TX_PACKETS], 8);
  assert.equal(ctr[devRow(a.ifindex) + DEV_TX_BYTES], 8 * 60);
  reg.attachXdp(b.ifindex, 0);
  assert.equal(devs.xdpXmit(a.ifindex, 0, frames, 8, 8, 0, true), -ENXIO);
});
