/*
 * More simulated CPUs than cores: 4 CPUs on this 2-core machine, each
 * polling its own RX queue, each running the program and counting in its
 * own per-CPU slot; bpf_get_smp_processor_id() names the CPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XDP_DROP } from '../src/index.ts';
import { fixture, withRuntime } from './helpers.ts';

test('4 simulated CPUs: every CPU polls its queue and counts in its own per-CPU slot', async () => {
  await withRuntime({ cpus: 4 }, async (rt) => {
    assert.equal(rt.cpus, 4);
    const [v0] = rt.createVeth('c4a', 'c4b', { rxQueues: 4, cpus: [0, 1, 2, 3] });
    assert.deepEqual(v0.rxQueueCpus, [0, 1, 2, 3]);
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_DROP);
    v0.attachXdp(obj.progs.verdict!);
    /* one flow per queue: pin each batch to a queue so the split is exact */
    for (let q = 0; q < 4; q++) await v0.inject({ count: 1000 + q, queue: q });
    assert.equal(await rt.quiesce(), true);
    const s = v0.stats();
    assert.deepEqual(s.perCpu.map((c) => c.rx_packets), [1000, 1001, 1002, 1003]);
    assert.deepEqual(s.perCpu.map((c) => c.xdp_drop), [1000, 1001, 1002, 1003]);
    const per = obj.maps.seen!.lookupPerCpu(0)!;
    assert.deepEqual(per.map((v) => Number(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true))), [1000, 1001, 1002, 1003]);
    const st = rt.stats();
    assert.equal(st.cpus.length, 4);
    for (const c of st.cpus) assert.ok(c.polls > 0, `cpu ${c.cpu} polled`);
    const smp = await rt.loadObject(fixture('prog-smp.ts'));
    v0.attachXdp(smp.progs.whoami!);
    for (let q = 0; q < 4; q++) await v0.inject({ count: 10, queue: q });
    assert.equal(await rt.quiesce(), true);
    for (let cpu = 0; cpu < 4; cpu++) assert.equal(smp.maps.by_cpu!.lookupU64(cpu), 10, `cpu ${cpu}`);
  });
});
