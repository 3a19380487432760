/*
 * The RCU engine: a grace period waits for a CPU inside a NAPI poll and not
 * for a sleeping one; callRcu callbacks run after their grace period, in
 * order; rcuBarrier waits for them; writer latency stays bounded while CPUs
 * are busy with traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { XDP_DROP } from '../src/index.ts';
import { fixture, withRuntime } from './helpers.ts';

test('a grace period waits for a CPU in a poll, not for sleeping ones; callbacks in order; barrier', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    /* idle CPUs: a grace period is immediate */
    await rt.quiesce();
    let t0 = performance.now();
    await rt.synchronizeRcu();
    assert.ok(performance.now() - t0 < 50, `idle grace period took ${performance.now() - t0} ms`);
    /* CPU 1 spends 300 ms inside one poll (a program that spins) */
    const [busy] = rt.createVeth('rcb', 'rcbp', { rxQueues: 1, cpus: [1] });
    busy.attachXdp((await rt.loadObject(fixture('prog-spin.ts'))).progs.spin!);
    await busy.inject({ count: 1 });
    await sleep(30);
    const order: number[] = [];
    for (let i = 0; i < 5; i++) rt.callRcu(() => order.push(i));
    assert.equal(rt.stats().rcu.callbacksPending, 5);
    t0 = performance.now();
    await rt.synchronizeRcu();
    const waited = performance.now() - t0;
    assert.ok(waited > 150, `the grace period ended after ${waited} ms, inside the CPU's poll`);
    await rt.rcuBarrier();
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    const st = rt.stats().rcu;
    assert.equal(st.callbacksPending, 0);
    assert.equal(st.callbacksRun, 5);
    assert.ok(st.gracePeriods >= 2);
    assert.equal(st.latencyHistogramUs.reduce((a, b) => a + b.count, 0), st.gracePeriods);
  });
});

test('writer latency stays bounded while both CPUs are busy with traffic', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0] = rt.createVeth('rcl', 'rclp', { rxQueues: 2 });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_DROP);
    v0.attachXdp(obj.progs.verdict!);
    const sending = v0.inject({ count: 2_000_000, flows: 64 });
    await sleep(50);
    const lat: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await rt.synchronizeRcu();
      lat.push(performance.now() - t0);
    }
    await sending;
    lat.sort((a, b) => a - b);
    /* a poll is at most 64 frames: a grace period is a few polls, far below these bounds */
    assert.ok(lat[25]! < 20, `p50 ${lat[25]} ms`);
    assert.ok(lat[49]! < 200, `max ${lat[49]} ms`);
    assert.ok(rt.stats().rcu.latencyP99Us > 0);
  });
});
