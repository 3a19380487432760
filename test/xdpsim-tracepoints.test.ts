/*
 * xdpsim's own tracepoints, for what the kernel leaves untraced: every
 * drop (xdpsim_drop: device, reason, length) and the end of each RCU grace
 * period (xdpsim_rcu_gp: number, latency). Both off by default; a tiny
 * trace ring loses records and counts them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, withRuntime } from './helpers.ts';

test('xdpsim_drop and xdpsim_rcu_gp: off by default, then every drop and every grace period', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [v0] = rt.createVeth('t0', 't0p');
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, 1); /* XDP_DROP */
    v0.attachXdp(obj.progs.verdict!);
    await v0.inject({ count: 3, size: 80 });
    await rt.synchronizeRcu();
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(rt.traceEvents('xdpsim_drop'), []);
    assert.deepEqual(rt.traceEvents('xdpsim_rcu_gp'), []);
    await rt.setTracepoints(['xdpsim_drop', 'xdpsim_rcu_gp'], true);
    await v0.inject({ count: 3, size: 80 });
    assert.equal(await rt.quiesce(), true);
    await rt.synchronizeRcu();
    await rt.synchronizeRcu();
    const drops = rt.traceEvents('xdpsim_drop');
    assert.deepEqual(drops.map((e) => [e.cpu, e.ifindex, e.reason, e.reason_name, e.len]), Array(3).fill([0, v0.ifindex, 0, 'XDP_DROP', 80]));
    const gps = rt.traceEvents('xdpsim_rcu_gp');
    assert.equal(gps.length, 2);
    assert.ok(gps.every((e) => e.cpu === -1 && typeof e.gp === 'number' && Number(e.latency_ns) > 0));
    assert.ok(Number(gps[1]!.gp) > Number(gps[0]!.gp));
    await rt.setTracepoints(['xdpsim_drop', 'xdpsim_rcu_gp'], false);
    rt.clearTraceEvents();
    await v0.inject({ count: 2 });
    await rt.synchronizeRcu();
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(rt.traceEvents().filter((e) => e.event.startsWith('xdpsim')), []);
  });
});

test('a tiny trace ring loses records and counts them', async () => {
  await withRuntime({ cpus: 1, traceRingSize: 16 }, async (rt) => {
    const [v0] = rt.createVeth('l0', 'l0p');
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, 1);
    v0.attachXdp(obj.progs.verdict!);
    await rt.setTracepoints(['xdpsim_drop'], true);
    /* 64 drops in one poll into a 16-record ring before the collector runs */
    await v0.inject({ count: 64 });
    assert.equal(await rt.quiesce(), true);
    const got = rt.traceEvents('xdpsim_drop').length;
    const lost = rt.stats().cpus[0]!.trace_lost;
    assert.equal(got + lost, 64);
    assert.ok(lost >= 48, `lost ${lost}`);
  });
});
