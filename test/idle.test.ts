/*
 * Idle CPUs sleep on their doorbells: with nothing flowing, 4 simulated
 * CPUs cost the process well under one core (measured over a second), and
 * a doorbell wakes them when traffic arrives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { XDP_DROP } from '../src/index.ts';
import { fixture, withRuntime } from './helpers.ts';

function cpuSeconds(): number {
  const u = process.cpuUsage(); /* the whole process: every thread */
  return (u.user + u.system) / 1e6;
}

test('idle CPUs use no CPU time, and wake on the doorbell', async () => {
  await withRuntime({ cpus: 4 }, async (rt) => {
    const [v0] = rt.createVeth('ida', 'idb', { rxQueues: 4 });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_DROP);
    v0.attachXdp(obj.progs.verdict!);
    await v0.inject({ count: 2000, flows: 64 });
    assert.equal(await rt.quiesce(), true);
    await sleep(100);
    const before = rt.stats().cpus.map((c) => c.sleeps);
    /*
     * process.cpuUsage() counts every thread of the process, V8's background
     * compiler and GC threads too, which may still be finishing the burst's
     * work (seconds later on a loaded machine: 0.2 of a core once): the
     * CPUs are idle if some idle second of up to five costs under 0.1 of a
     * core, while no CPU wakes during any of them (a CPU that spun would
     * cost every second).
     */
    const loads: number[] = [];
    for (let i = 0; i < 5 && !(loads.length > 0 && loads.at(-1)! < 0.1); i++) {
      const c0 = cpuSeconds();
      const t0 = performance.now();
      await sleep(1000);
      loads.push((cpuSeconds() - c0) / ((performance.now() - t0) / 1000));
    }
    const st = rt.stats();
    /* no CPU went back to sleep: none woke up during the idle seconds */
    assert.deepEqual(st.cpus.map((c) => c.sleeps), before);
    assert.equal(st.cpus.every((c) => c.sleeping), true);
    assert.ok(loads.at(-1)! < 0.1, `process used ${loads.map((l) => l.toFixed(3)).join(', ')} of a core in ${loads.length} idle seconds`);
    /* a doorbell wakes them */
    const w0 = st.cpus.map((c) => c.wakeups);
    await v0.inject({ count: 400, flows: 64 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(v0.stats().xdp_drop, 2400);
    const w1 = rt.stats().cpus.map((c) => c.wakeups);
    assert.ok(w1.every((w, i) => w > w0[i]!), `every CPU woke: ${w0} -> ${w1}`);
  });
});
