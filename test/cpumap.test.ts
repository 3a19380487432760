/*
 * BPF_MAP_TYPE_CPUMAP (kernel/bpf/cpumap.c): every errno of the map API (as
 * measured on this machine's kernel, docs/kernel-checks.md), redirect to
 * another CPU with bulk queues of 8 flushed into a ptr_ring of qsize,
 * queue-full accounting with exact counts, xdp_cpumap_enqueue and
 * xdp_cpumap_kthread records, cpumap programs of each verdict, the kthread
 * draining its queue after its entry is deleted, and conservation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BPF_ANY, BPF_EXIST, BPF_MAP_TYPE_CPUMAP, BPF_NOEXIST, E2BIG, EEXIST, EINVAL, ENODEV, ENOMEM, EOVERFLOW,
  Runtime, Umem, XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX, cpumapVal, type BpfObject, type Device,
} from '../src/index.ts';
import { fixture } from './helpers.ts';

const u32 = (v: number): Uint8Array => new Uint8Array(new Uint32Array([v]).buffer);

async function setup(rt: Runtime, tag: string): Promise<{ obj: BpfObject; in0: Device }> {
  const obj = await rt.loadObject(fixture('prog-cpumap.ts'));
  const [in0] = rt.createVeth(`${tag}i`, `${tag}p`, { rxQueues: 1, cpus: [0] });
  in0.attachXdp(obj.progs.xdp_to_cpu!);
  return { obj, in0 };
}

function cfg(obj: BpfObject, vals: Record<number, number>): void {
  for (const [k, v] of Object.entries(vals)) obj.maps.cfg!.update(Number(k), v >>> 0);
}

test('cpumap', async (t) => {
  const rt = await Runtime.start({ cpus: 2 });
  t.after(() => rt.stop());

  await t.test('create: the kernel\'s checks', () => {
    const spec = { type: BPF_MAP_TYPE_CPUMAP, keySize: 4, valueSize: 8, maxEntries: 4 };
    assert.throws(() => rt.createMap({ ...spec, valueSize: 12 }), { errno: EINVAL });
    assert.throws(() => rt.createMap({ ...spec, keySize: 8 }), { errno: EINVAL });
    assert.throws(() => rt.createMap({ ...spec, maxEntries: 0 }), { errno: EINVAL });
    assert.throws(() => rt.createMap({ ...spec, mapFlags: 1 }), { errno: EINVAL });
    assert.throws(() => rt.createMap({ ...spec, maxEntries: 8193 }), { errno: E2BIG });
    assert.doesNotThrow(() => rt.createMap({ ...spec, valueSize: 4, maxEntries: 8192, name: 'cm_big' }));
  });

  await t.test('update, lookup, delete, get_next_key: every errno', async () => {
    const obj = await rt.loadObject(fixture('prog-cpumap.ts'));
    const m = obj.maps.cpu_map!;
    assert.throws(() => m.update(0, cpumapVal(64), 3), { errno: EINVAL });
    assert.throws(() => m.update(4, cpumapVal(64)), { errno: E2BIG });
    assert.throws(() => m.update(0, cpumapVal(64), BPF_NOEXIST), { errno: EEXIST });
    assert.throws(() => m.update(0, cpumapVal(16385)), { errno: EOVERFLOW });
    /* keys 2 and 3 are in the map but name CPUs this runtime does not have */
    assert.throws(() => m.update(2, cpumapVal(64)), { errno: ENODEV });
    /* a program that is not loaded, or not SEC("xdp/cpumap"): the failed allocation is ENOMEM */
    assert.throws(() => m.update(0, cpumapVal(64, 999)), { errno: ENOMEM });
    assert.throws(() => m.update(0, cpumapVal(64, obj.progs.not_cpumap!)), { errno: ENOMEM });
    /* qsize 0 is a delete, and BPF_EXIST on an empty slot is fine */
    m.update(1, cpumapVal(0), BPF_EXIST);
    assert.equal(m.lookup(1), null);
    m.update(1, cpumapVal(100, obj.progs.cm_seen!), BPF_ANY);
    const v = m.lookup(1)!;
    const dv = new DataView(v.buffer, v.byteOffset, 8);
    assert.deepEqual([dv.getUint32(0, true), dv.getUint32(4, true)], [100, obj.progs.cm_seen!.id]);
    assert.equal(m.lookup(0), null);
    assert.deepEqual([...m.keys()].map((k) => k[0]), [0, 1, 2, 3]);
    assert.throws(() => m.delete(4), { errno: EINVAL });
    m.delete(0); /* empty: fine */
    m.delete(1);
    assert.equal(m.lookup(1), null);
    assert.equal(m.getNextKey(3), null);
    const small = rt.createMap({ type: BPF_MAP_TYPE_CPUMAP, keySize: 4, valueSize: 4, maxEntries: 2, name: 'cm_small' });
    small.update(1, u32(32));
    assert.deepEqual([...small.lookup(1)!], [32, 0, 0, 0]);
    assert.throws(() => small.update(0, u32(32), BPF_NOEXIST), { errno: EEXIST });
  });

  await t.test('redirect to another CPU: bulks of 8, the kthread passes them to the stack there', async () => {
    const { obj, in0 } = await setup(rt, 'cr');
    obj.maps.cpu_map!.update(1, cpumapVal(256));
    cfg(obj, { 0: 1, 1: 0 });
    rt.clearTraceEvents();
    await in0.inject({ count: 100 });
    assert.equal(await rt.quiesce(), true);
    const s = in0.stats();
    assert.equal(s.xdp_redirect, 100);
    assert.equal(s.stack, 100);
    assert.deepEqual(s.perCpu.map((c) => c.stack), [0, 100]);
    const enq = rt.traceEvents('xdp_cpumap_enqueue');
    assert.equal(enq.reduce((a, e) => a + (e.processed as number), 0), 100);
    assert.ok(enq.every((e) => (e.processed as number) <= 8 && e.drops === 0 && e.to_cpu === 1 && e.cpu === 0
      && e.map_id === obj.maps.cpu_map!.id && e.act === XDP_REDIRECT));
    const kt = rt.traceEvents('xdp_cpumap_kthread');
    assert.equal(kt.reduce((a, e) => a + (e.processed as number), 0), 100);
    /* no program: cpu_map_bpf_prog_run() returns at once and the stats stay 0 */
    assert.ok(kt.every((e) => e.cpu === 1 && (e.processed as number) <= 8 && e.xdp_pass === 0 && e.xdp_drop === 0 && e.drops === 0));
    assert.equal(kt[0]!.sched, 1, 'the first batch follows a sleep');
    const st = rt.stats();
    assert.equal(st.cpus[0]!.cpumap.enqueued, 100);
    assert.equal(st.cpus[1]!.cpumap.kthread_processed, 100);
    assert.equal(st.conserved, true);
    obj.maps.cpu_map!.delete(1);
  });

  await t.test('a full queue: exact drops at the flush, counted and traced', async () => {
    const { obj, in0 } = await setup(rt, 'cf');
    /* qsize 8: ptr_ring's batch is then 1 slot */
    obj.maps.cpu_map!.update(1, cpumapVal(8));
    cfg(obj, { 0: 1, 1: 0 });
    assert.equal(await rt.quiesce(), true);
    rt.clearTraceEvents();
    /* 64 frames in one NAPI poll: 8 bulks of 8; CPU 1's kthread sleeps until the poll's final flush wakes it */
    await in0.inject({ count: 64 });
    assert.equal(await rt.quiesce(), true);
    const enq = rt.traceEvents('xdp_cpumap_enqueue');
    assert.deepEqual(enq.map((e) => [e.processed, e.drops]), [[8, 0], [8, 8], [8, 8], [8, 8], [8, 8], [8, 8], [8, 8], [8, 8]], JSON.stringify(rt.stats().cpus.map((c) => c.cpumap)) + JSON.stringify(enq.map((e) => [e.map_id, e.to_cpu, e.ts])));
    const s = in0.stats();
    assert.equal(s.dropReasons.CPUMAP_FULL, 56);
    assert.equal(s.stack, 8);
    assert.equal(rt.stats().cpus[0]!.cpumap.enqueue_drops, 56);
    assert.equal(rt.traceEvents('xdp_cpumap_kthread').reduce((a, e) => a + (e.processed as number), 0), 8);
    assert.equal(rt.stats().conserved, true);
    assert.equal(rt.lastDrops().find((n) => n.reason === 'CPUMAP_FULL')?.device, in0.name);
    obj.maps.cpu_map!.delete(1);
  });

  await t.test('cpumap programs: each verdict', async () => {
    const { obj, in0 } = await setup(rt, 'cv');
    const sink = rt.createSink('cvs');
    obj.maps.tx!.update(0, sink.ifindex);
    obj.maps.cpu_map!.update(1, cpumapVal(512, obj.progs.cm_verdict!));
    cfg(obj, { 0: 1, 1: 0 });
    const cases: Array<[number, string, number, number, number]> = [
      /* verdict, what, to stack, to sink, drop reason count */
      [XDP_PASS, 'pass', 20, 0, 0], [XDP_DROP, 'drop', 0, 0, 20], [XDP_REDIRECT, 'redirect', 0, 20, 0],
      [XDP_ABORTED, 'aborted', 0, 0, 20], [XDP_TX, 'tx', 0, 0, 20], [99, 'bad value', 0, 0, 20],
    ];
    for (const [v, what, stack, sunk, dropped] of cases) {
      cfg(obj, { 2: v });
      const b = in0.stats();
      const bs = sink.stats();
      rt.clearTraceEvents();
      await in0.inject({ count: 20 });
      assert.equal(await rt.quiesce(), true, what);
      const a = in0.stats();
      assert.equal(a.stack - b.stack, stack, what);
      assert.equal(sink.stats().xmit_consumed - bs.xmit_consumed, sunk, what);
      const reason = v === XDP_DROP ? 'CPUMAP_PROG_DROP' : 'CPUMAP_PROG_ABORTED';
      assert.equal(a.dropReasons[reason] - b.dropReasons[reason], dropped, what);
      const kt = rt.traceEvents('xdp_cpumap_kthread');
      const sum = (f: string): number => kt.reduce((x, e) => x + (e[f] as number), 0);
      assert.deepEqual([sum('processed'), sum('xdp_pass'), sum('xdp_drop'), sum('xdp_redirect')],
        [20, v === XDP_PASS ? 20 : 0, v === XDP_PASS || v === XDP_REDIRECT ? 0 : 20, v === XDP_REDIRECT ? 20 : 0], what);
      const ex = rt.traceEvents('xdp_exception');
      if (v === XDP_ABORTED || v === XDP_TX || v === 99) {
        assert.equal(ex.length, 20, what);
        assert.ok(ex.every((e) => e.act === v && e.ifindex === in0.ifindex && e.prog_id === obj.progs.cm_verdict!.id && e.cpu === 1), what);
      } else assert.equal(ex.length, 0, what);
      if (v === XDP_REDIRECT) {
        /* the kthread redirected: xdp_redirect from the cpumap program, then its own xdp_do_flush() */
        const dx = rt.traceEvents('xdp_devmap_xmit');
        assert.equal(dx.reduce((x, e) => x + (e.sent as number), 0), 20);
        assert.ok(dx.every((e) => e.cpu === 1 && e.from_ifindex === in0.ifindex && e.to_ifindex === sink.ifindex));
      }
    }
    /* a program that throws: an exception and a drop */
    obj.maps.cpu_map!.update(1, cpumapVal(512, obj.progs.cm_throw!));
    const b = in0.stats().dropReasons.CPUMAP_PROG_ABORTED;
    rt.clearTraceEvents();
    await in0.inject({ count: 5 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(in0.stats().dropReasons.CPUMAP_PROG_ABORTED - b, 5);
    assert.equal(rt.traceEvents('xdp_exception').filter((e) => e.act === XDP_ABORTED).length, 5);
    assert.equal(rt.stats().conserved, true);
    obj.maps.cpu_map!.delete(1);
  });

  await t.test('flush order: newest bulk first; a bulk flushed when full rejoins the list at its head', async () => {
    const { obj, in0 } = await setup(rt, 'co');
    in0.attachXdp(obj.progs.xdp_by_port!);
    obj.maps.cpu_map!.update(0, cpumapVal(64));
    obj.maps.cpu_map!.update(1, cpumapVal(64));
    assert.equal(await rt.quiesce(), true);
    rt.clearTraceEvents();
    /* one poll: a frame for CPU 0, one for CPU 1, eight more for CPU 0 (the 9th for CPU 0 flushes its full bulk) */
    await in0.inject({ count: 10, flows: 10 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(rt.traceEvents('xdp_cpumap_enqueue').map((e) => [e.to_cpu, e.processed]), [[0, 8], [0, 1], [1, 1]]);
    obj.maps.cpu_map!.delete(0);
    obj.maps.cpu_map!.delete(1);
  });

  await t.test('the cpumap program\'s context: the receiving device, queue 0, no egress, on the target CPU', async () => {
    const { obj, in0 } = await setup(rt, 'cx');
    obj.maps.cpu_map!.update(0, cpumapVal(64, obj.progs.cm_seen!));
    /* in0 is polled on CPU 0; the entry for CPU 0 runs its kthread there too */
    cfg(obj, { 0: 0, 1: 0 });
    await in0.inject({ count: 7 });
    assert.equal(await rt.quiesce(), true);
    const per = (k: number): number[] => obj.maps.seen!.lookupPerCpu(k)!.map((b) => new DataView(b.buffer, b.byteOffset, 8).getUint32(0, true));
    assert.deepEqual(per(0), [7, 0]);
    assert.deepEqual(per(1), [in0.ifindex, 0]);
    assert.deepEqual(per(2), [0, 0]);
    assert.deepEqual(per(3), [0, 0]);
    assert.equal(in0.stats().stack, 7);
    obj.maps.cpu_map!.delete(0);
  });

  await t.test('lookup miss and flags: the fallback action, XDP_ABORTED for a bad flag', async () => {
    const { obj, in0 } = await setup(rt, 'cm');
    cfg(obj, { 0: 1, 1: XDP_PASS });
    rt.clearTraceEvents();
    await in0.inject({ count: 4 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(in0.stats().xdp_pass, 4);
    obj.maps.cpu_map!.update(1, cpumapVal(64));
    /* BPF_F_BROADCAST is a devmap flag: on a cpumap it is an unknown bit */
    cfg(obj, { 1: 1 << 3 });
    await in0.inject({ count: 3 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(in0.stats().xdp_aborted, 3);
    obj.maps.cpu_map!.delete(1);
  });

  await t.test('a cpumap program redirecting to AF_XDP: queue 0, refusals release the socket', async () => {
    const { obj, in0 } = await setup(rt, 'ck');
    const [in2] = rt.createVeth('ck2', 'ck2p', { rxQueues: 2, cpus: [0, 0] });
    in2.attachXdp(obj.progs.xdp_to_cpu!);
    const s = await rt.xskSocket({ dev: in2, queueId: 0, umem: new Umem({ size: 16 * 4096 }) });
    obj.maps.xsks!.update(0, u32(s.id));
    obj.maps.cpu_map!.update(1, cpumapVal(256, obj.progs.cm_to_xsk!));
    cfg(obj, { 0: 1, 1: 0 });
    /* an empty fill ring: every delivery fails (-ENOMEM) and the kthread must not keep the socket's lock */
    rt.clearTraceEvents();
    await in2.inject({ count: 12, flows: 8 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(s.statistics().rx_fill_ring_empty_descs, 12);
    assert.equal(in2.stats().dropReasons.CPUMAP_PROG_DROP, 12);
    /* now with chunks: frames of both queues reach the socket of queue 0 (the kthread's queue_index) */
    assert.equal(s.fill.reserve(16), 16);
    for (let i = 0; i < 16; i++) s.fill.setAddr(s.fill.idx + i, i * 4096);
    s.fill.submit(16);
    await in2.inject({ count: 12, flows: 8 });
    assert.equal(await rt.quiesce(), true);
    assert.ok(in2.stats().perCpu[0]!.rx_packets > 0);
    assert.equal(s.counters().rx_packets, 12);
    assert.equal(rt.stats().conserved, true);
    void in0;
    await s.close();
    obj.maps.cpu_map!.delete(1);
  });

  await t.test('deleting an entry: its kthread drains the queue first, then the record is freed', async () => {
    const { obj, in0 } = await setup(rt, 'cd');
    const m = obj.maps.cpu_map!;
    m.update(1, cpumapVal(4096, obj.progs.cm_gated!));
    cfg(obj, { 0: 1, 1: 0, 3: 0 });
    assert.equal(await rt.quiesce(), true);
    const c0 = (): { enqueued: number; enqueue_drops: number } => rt.stats().cpus[0]!.cpumap;
    const kt = (): number => rt.stats().cpus[1]!.cpumap.kthread_processed;
    const base = { enq: c0().enqueued, kt: kt() };
    const inj = in0.inject({ count: 1000 });
    const t0 = performance.now();
    /* the kthread is held on its first frame (cm_gated) while CPU 0 enqueues */
    while (c0().enqueued - base.enq < 600 && performance.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 1));
    assert.ok(c0().enqueued - base.enq >= 600, `waited 10 s for CPU 0 to enqueue 600 frames: ${c0().enqueued - base.enq}`);
    m.delete(1);
    /* frames still in the queue when the entry left the map */
    const queued = (c0().enqueued - base.enq) - (kt() - base.kt);
    assert.ok(queued >= 600, `frames queued at the delete: ${queued}`);
    cfg(obj, { 3: 1 });
    await inj;
    assert.equal(await rt.quiesce(10000), true);
    const enq = c0().enqueued - base.enq;
    /* every frame enqueued before the delete was processed by the kthread, after it too; later ones missed the lookup */
    assert.equal(kt() - base.kt, enq);
    const s = in0.stats();
    assert.equal(s.stack, enq);
    assert.equal(s.xdp_aborted, 1000 - enq);
    assert.equal(rt.stats().conserved, true);
    /* kthread_stop()'s last wake-up: an empty batch traced with sched 1 */
    const last = rt.traceEvents('xdp_cpumap_kthread').filter((e) => e.map_id === m.id).at(-1)!;
    assert.deepEqual([last.processed, last.sched, last.cpu], [0, 1, 1]);
    /* the record is freed once the kthread stopped */
    const cm = m.map as unknown as { retiring(): number; reclaim(): void };
    const t1 = performance.now();
    while (cm.retiring() > 0 && performance.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 5));
    assert.equal(cm.retiring(), 0);
    /* replacements never run out of records: a writer out of them waits for the oldest to stop */
    for (let i = 0; i < 40; i++) m.update(1, cpumapVal(16 + i));
    m.delete(1);
  });
});
