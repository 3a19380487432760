/* bpf_ktime_get_ns(): one monotonic nanosecond clock for every CPU and user space (rt.ktimeNs()). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixture, withRuntime } from './helpers.ts';

test('bpf_ktime_get_ns: shared by all CPUs, between user-space readings before and after', async () => {
  await withRuntime({ cpus: 3 }, async (rt) => {
    const [v0] = rt.createVeth('kta', 'ktb', { rxQueues: 3, cpus: [0, 1, 2] });
    const obj = await rt.loadObject(fixture('prog-ktime.ts'));
    v0.attachXdp(obj.progs.ktime!);
    await sleep(20);
    const before = rt.ktimeNs();
    for (let q = 0; q < 3; q++) await v0.inject({ count: 1, queue: q });
    assert.equal(await rt.quiesce(), true);
    const after = rt.ktimeNs();
    assert.ok(before > 20e6, `ktime counts from the runtime's start: ${before}`);
    for (let cpu = 0; cpu < 3; cpu++) {
      const t = obj.maps.stamp!.lookupU64(cpu)!;
      assert.ok(t >= before && t <= after, `cpu ${cpu}: ${before} <= ${t} <= ${after}`);
    }
  });
});
