/*
 * A clang-compiled object with a CPUMAP (and an xdp/cpumap program) and an
 * XSKMAP: the maps are the runtime's, the redirects reach the remote CPU's
 * kthread and the AF_XDP socket as a TypeScript object's do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Runtime, Umem, cpumapVal } from '../src/index.ts';
import { BUILDS, buildSkip, fixture } from './objects.ts';

for (const build of BUILDS) test(`a C object redirects through a CPUMAP and an XSKMAP (${build} cpumap_xsk.o)`, { skip: buildSkip(build) }, async () => {
  const o = fixture('cpumap_xsk', 'v3', [], undefined, build);
  const rt = await Runtime.start({ cpus: 2 });
  try {
    const obj = await rt.loadObject(o);
    const [in0] = rt.createVeth('cxa', 'cxb', { rxQueues: 1, cpus: [0] });
    in0.attachXdp(obj.progs.to_cpu!);
    obj.maps.cpu_map!.update(1, cpumapVal(64, obj.progs.on_cpu!));
    rt.clearTraceEvents();
    await in0.inject({ count: 50 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(in0.stats().perCpu.map((c) => c.stack), [0, 50]);
    const c1 = rt.stats().cpus[1]!.cpumap;
    assert.deepEqual([c1.kthread_processed, c1.kthread_pass], [50, 50]);
    assert.equal(rt.traceEvents('xdp_cpumap_kthread').reduce((a, e) => a + (e.xdp_pass as number), 0), 50);
    in0.attachXdp(obj.progs.to_xsk!);
    const s = await rt.xskSocket({ dev: in0, queueId: 0, umem: new Umem({ size: 64 * 4096 }) });
    obj.maps.xsks_map!.update(0, s.id);
    assert.equal(s.fill.reserve(8), 8);
    for (let i = 0; i < 8; i++) s.fill.setAddr(s.fill.idx + i, i * 4096);
    s.fill.submit(8);
    await in0.inject({ count: 10 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(s.counters().rx_packets, 8);
    assert.equal(s.statistics().rx_fill_ring_empty_descs, 2);
    assert.equal(rt.stats().conserved, true);
  } finally {
    await rt.stop();
  }
});
