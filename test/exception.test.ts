/*
 * A program that throws: XDP_ABORTED, an xdp_exception record (prog id,
 * act, ifindex), the frame freed, and the CPU keeps running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XDP_ABORTED, XDP_PASS } from '../src/index.ts';
import { fixture, percpuSum, withRuntime } from './helpers.ts';

test('a throwing program: exception record, CPU alive, frame freed', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0] = rt.createVeth('exa', 'exb', { rxQueues: 2 });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, 100);
    v0.attachXdp(obj.progs.verdict!);
    await v0.inject({ count: 200, flows: 8 });
    assert.equal(await rt.quiesce(), true);
    let s = v0.stats();
    assert.equal(s.xdp_exception, 200);
    assert.equal(s.dropReasons.XDP_EXCEPTION, 200);
    assert.equal(s.drops, 200);
    const ex = rt.traceEvents('xdp_exception');
    assert.equal(ex.length, 200);
    for (const e of ex) {
      assert.equal(e.prog_id, obj.progs.verdict!.id);
      assert.equal(e.act, XDP_ABORTED);
      assert.equal(e.ifindex, v0.ifindex);
      assert.ok(e.cpu === 0 || e.cpu === 1);
    }
    /* both CPUs survived: the same queues now pass traffic */
    obj.maps.config!.update(0, XDP_PASS);
    await v0.inject({ count: 200, flows: 8 });
    assert.equal(await rt.quiesce(), true);
    s = v0.stats();
    assert.equal(s.xdp_pass, 200);
    assert.equal(s.perCpu[0]!.xdp_pass > 0 && s.perCpu[1]!.xdp_pass > 0, true);
    assert.equal(percpuSum(obj.maps.seen!.lookupPerCpu(0)), 400);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
  });
});

test('verdicts are u32; a program that moves data_end by hand is an exception', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [v0] = rt.createVeth('bda', 'bdb');
    const obj = await rt.loadObject(fixture('prog-bad.ts'));
    v0.attachXdp(obj.progs.bad!);
    const copies: number[] = [];
    v0.onPass((p) => copies.push(p.data.length));
    const run = async (mode: number) => {
      obj.maps.config!.update(0, mode);
      rt.clearTraceEvents();
      await v0.inject({ count: 4 });
      assert.equal(await rt.quiesce(), true);
      rt.collect();
      return rt.traceEvents('xdp_exception').map((e) => e.act);
    };
    assert.deepEqual(await run(1), [XDP_ABORTED, XDP_ABORTED, XDP_ABORTED, XDP_ABORTED]);
    assert.equal(v0.stats().dropReasons.XDP_EXCEPTION, 4);
    assert.deepEqual(copies, []);
    assert.deepEqual(await run(2), []);
    assert.equal(v0.stats().xdp_pass, 4);
    assert.deepEqual(copies, [64, 64, 64, 64]);
    assert.deepEqual(await run(3), [4294967295, 4294967295, 4294967295, 4294967295]);
    assert.equal(v0.stats().xdp_invalid, 4);
    assert.deepEqual(await run(4), [XDP_ABORTED, XDP_ABORTED, XDP_ABORTED, XDP_ABORTED]);
    assert.equal(v0.stats().xdp_aborted, 4);
  });
});

test('an onPass handler that throws is reported once per call and does not stop the collector', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [v0] = rt.createVeth('tha', 'thb');
    let calls = 0;
    const errors: string[] = [];
    rt.on('callback-error', (e: Error, what: string) => errors.push(`${what}: ${e.message}`));
    v0.onPass(() => {
      calls++;
      throw new Error('boom');
    });
    await v0.inject({ count: 3 });
    assert.equal(await rt.quiesce(), true);
    await new Promise((r) => setTimeout(r, 50));
    rt.collect();
    assert.equal(calls, 3);
    assert.deepEqual(errors, ['onPass handler: boom', 'onPass handler: boom', 'onPass handler: boom']);
  });
});
