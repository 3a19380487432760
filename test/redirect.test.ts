/*
 * The XDP_REDIRECT path (net/core/filter.c, kernel/bpf/devmap.c):
 * bpf_redirect_map lookup misses with each fallback action, unknown flag
 * bits, every xdp_do_redirect error with its err and xdp_redirect_err
 * record, successful xdp_redirect records, bulk queues of 16 flushed at the
 * end of the poll, partial sends on a full peer ring, devmap programs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BPF_F_BROADCAST, EINVAL, EMSGSIZE, ENETDOWN, EOPNOTSUPP, NETDEV_XDP_ACT_NDO_XMIT, Runtime, XDP_ABORTED,
  XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX, devmapVal, type BpfObject, type Device,
} from '../src/index.ts';
import { fixture, percpuSum } from './helpers.ts';

const INT_MAX = 0x7fffffff;

interface Scene { rt: Runtime; obj: BpfObject; counter: BpfObject; in0: Device; outs: Device[]; peers: Device[] }

/** in0 (one queue, CPU 0) runs xdp_redir; n egress veths whose peers count and pass. */
async function scene(rt: Runtime, tag: string, n: number, peerCpu = 1, peerRing?: number): Promise<Scene> {
  const [in0] = rt.createVeth(`${tag}i`, `${tag}ip`, { rxQueues: 1, cpus: [0] });
  const obj = await rt.loadObject(fixture('prog-redirect.ts'));
  const counter = await rt.loadObject(fixture('prog-two.ts'));
  in0.attachXdp(obj.progs.xdp_redir!);
  const outs: Device[] = [];
  const peers: Device[] = [];
  for (let i = 0; i < n; i++) {
    const [o, p] = rt.createVeth(`${tag}o${i}`, `${tag}p${i}`, { rxQueues: 1, cpus: [0] },
      { rxQueues: 1, cpus: [peerCpu], ...(peerRing ? { ringSize: peerRing } : {}) });
    p.attachXdp(counter.progs.prog_a!);
    outs.push(o);
    peers.push(p);
  }
  return { rt, obj, counter, in0, outs, peers };
}

const cfg = (s: Scene, vals: Record<number, number>): void => {
  for (const [k, v] of Object.entries(vals)) s.obj.maps.cfg!.update(Number(k), v >>> 0);
};

async function send(s: Scene, count: number, size = 64): Promise<void> {
  await s.in0.inject({ count, size });
  assert.equal(await s.rt.quiesce(), true);
}

test('redirect path', async (t) => {
  const rt = await Runtime.start({ cpus: 2 });
  t.after(() => rt.stop());

  await t.test('lookup miss: the low two bits of flags are the verdict', async () => {
    const s = await scene(rt, 'miss', 0);
    const seen: Record<number, 'xdp_aborted' | 'xdp_drop' | 'xdp_pass' | 'xdp_tx'> = { [XDP_ABORTED]: 'xdp_aborted', [XDP_DROP]: 'xdp_drop', [XDP_PASS]: 'xdp_pass', [XDP_TX]: 'xdp_tx' };
    for (const mode of [0, 1]) {
      for (const act of [XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX]) {
        const before = s.in0.stats();
        cfg(s, { 0: mode, 1: 7, 2: act });
        await send(s, 10);
        const after = s.in0.stats();
        assert.equal(after[seen[act]!] - before[seen[act]!], 10, `map type ${mode}, fallback ${act}`);
        assert.equal(after.xdp_redirect, before.xdp_redirect);
      }
    }
  });

  await t.test('unknown flag bits, and any flag on bpf_redirect: XDP_ABORTED', async () => {
    const s = await scene(rt, 'flag', 1);
    s.obj.maps.tx!.update(0, devmapVal(s.outs[0]!.ifindex));
    cfg(s, { 0: 0, 1: 0, 2: 1 << 5 });
    await send(s, 5);
    cfg(s, { 0: 2, 1: s.outs[0]!.ifindex, 2: 1 });
    await send(s, 5);
    assert.equal(s.in0.stats().xdp_aborted, 10);
    assert.equal(s.peers[0]!.stats().rx_packets, 0);
  });

  await t.test('every xdp_do_redirect error: err value, xdp_redirect_err record, drop', async () => {
    const s = await scene(rt, 'err', 2);
    const [ok, other] = s.outs as [Device, Device];
    const tx = s.obj.maps.tx!;
    const progId = s.obj.progs.xdp_redir!.id;
    const check = async (what: string, vals: Record<number, number>, err: number, to: number, mapId: number, mapIndex: number, size = 64) => {
      rt.clearTraceEvents();
      const before = s.in0.stats().dropReasons.REDIRECT_ERR;
      cfg(s, vals);
      await send(s, 3, size);
      assert.equal(s.in0.stats().dropReasons.REDIRECT_ERR - before, 3, what);
      const e = rt.traceEvents('xdp_redirect_err');
      assert.equal(e.length, 3, what);
      const { cpu, ts, ...fields } = e[0]!;
      assert.equal(cpu, 0);
      assert.ok((ts as number) > 0);
      assert.deepEqual(fields, {
        event: 'xdp_redirect_err', prog_id: progId, act: XDP_REDIRECT, act_name: 'XDP_REDIRECT', ifindex: s.in0.ifindex,
        err, to_ifindex: to, map_id: mapId, map_index: mapIndex,
      }, what);
    };
    /* a device that is down: -ENETDOWN */
    tx.update(3, devmapVal(ok.ifindex));
    ok.down();
    await check('down', { 0: 0, 1: 3, 2: 0 }, -ENETDOWN, ok.ifindex, tx.id, 3);
    ok.up();
    /* no NDO_XMIT: a veth whose peer has no XDP program */
    s.peers[1]!.detachXdp();
    assert.equal(other.xdpFeatures & NETDEV_XDP_ACT_NDO_XMIT, 0);
    tx.update(4, devmapVal(other.ifindex));
    await check('no ndo_xmit', { 0: 0, 1: 4, 2: 0 }, -EOPNOTSUPP, other.ifindex, tx.id, 4);
    /* longer than the target's MTU + 14 + 4 */
    ok.setMtu(100);
    await check('too big', { 0: 0, 1: 3, 2: 0 }, -EMSGSIZE, ok.ifindex, tx.id, 3, 200);
    ok.setMtu(1500);
    /* frags to a device without NDO_XMIT_SG */
    const nosg = rt.createSink('errnosg', { xdpFeatures: NETDEV_XDP_ACT_NDO_XMIT });
    tx.update(5, devmapVal(nosg.ifindex));
    cfg(s, { 0: 0, 1: 5, 2: 0 });
    rt.clearTraceEvents();
    await s.in0.inject({ count: 2, frags: 32 });
    assert.equal(await rt.quiesce(), true);
    const fe = rt.traceEvents('xdp_redirect_err');
    assert.deepEqual(fe.map((e) => [e.err, e.to_ifindex]), [[-EOPNOTSUPP, nosg.ifindex], [-EOPNOTSUPP, nosg.ifindex]]);
    await s.in0.inject({ count: 2 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(nosg.stats().xmit_consumed, 2);
    /* bpf_redirect to an ifindex with no device: -EINVAL, to_ifindex is the index, map_id INT_MAX */
    await check('no device', { 0: 2, 1: 60, 2: 0 }, -EINVAL, 60, INT_MAX, 0);
  });

  await t.test('a program cannot update a devmap: an exception that says why', async () => {
    const s = await scene(rt, 'upd', 0);
    cfg(s, { 0: 4 });
    rt.clearTraceEvents();
    await send(s, 2);
    assert.equal(s.in0.stats().xdp_exception, 2);
    assert.equal(rt.traceEvents('xdp_exception').length, 2);
    assert.match(rt.stats().cpus[0]!.last_exception,
      new RegExp(`^prog ${s.obj.progs.xdp_redir!.id} on ifindex ${s.in0.ifindex}: EINVAL: map 'tx' \\(id \\d+\\) update from a program: a devmap can only be updated from user space`));
  });

  await t.test('a program reads a devmap entry but cannot write it', async () => {
    const s = await scene(rt, 'ro', 1);
    s.obj.maps.tx!.update(0, devmapVal(s.outs[0]!.ifindex));
    cfg(s, { 0: 6 });
    await send(s, 3);
    assert.equal(s.in0.stats().xdp_exception, 3);
    assert.match(rt.stats().cpus[0]!.last_exception, /map 'tx' \(id \d+\): write into map forbidden/);
    const v = s.obj.maps.tx!.lookup(0)!;
    assert.equal(new DataView(v.buffer, v.byteOffset).getUint32(0, true), s.outs[0]!.ifindex);
  });

  await t.test('unknown flag bits win over the fallback action', async () => {
    const s = await scene(rt, 'prec', 0);
    cfg(s, { 0: 0, 1: 9, 2: (1 << 5) | XDP_PASS });
    await send(s, 4);
    cfg(s, { 0: 0, 1: 9, 2: 1 << 2 });
    await send(s, 4);
    const st = s.in0.stats();
    assert.equal(st.xdp_aborted, 8);
    assert.equal(st.xdp_pass, 0);
  });

  await t.test('broadcast records: to_ifindex of the key found (0 if none), map_index the key', async () => {
    const s = await scene(rt, 'bcr', 2);
    s.outs.forEach((o, i) => s.obj.maps.tx!.update(i, devmapVal(o.ifindex)));
    await rt.setTracepoints(['xdp_redirect'], true);
    rt.clearTraceEvents();
    cfg(s, { 0: 0, 1: 1, 2: BPF_F_BROADCAST });
    await send(s, 1);
    cfg(s, { 0: 0, 1: 33, 2: BPF_F_BROADCAST });
    await send(s, 1);
    await rt.setTracepoints(['xdp_redirect'], false);
    const e = rt.traceEvents('xdp_redirect');
    assert.deepEqual(e.map((x) => [x.to_ifindex, x.map_index, x.map_id]), [[s.outs[1]!.ifindex, 1, s.obj.maps.tx!.id], [0, 33, s.obj.maps.tx!.id]]);
    /* one xdp_devmap_xmit per target, the newest queue on the flush list first */
    const x = rt.traceEvents('xdp_devmap_xmit');
    assert.deepEqual(x.map((r) => r.to_ifindex), [s.outs[1]!.ifindex, s.outs[0]!.ifindex, s.outs[1]!.ifindex, s.outs[0]!.ifindex]);
  });

  await t.test('success: xdp_redirect records, frames reach the target', async () => {
    const s = await scene(rt, 'ok', 1);
    const out = s.outs[0]!;
    await rt.setTracepoints(['xdp_redirect'], true);
    rt.clearTraceEvents();
    s.obj.maps.txh!.update(42, devmapVal(out.ifindex));
    cfg(s, { 0: 1, 1: 42, 2: XDP_DROP });
    await send(s, 20);
    cfg(s, { 0: 2, 1: out.ifindex, 2: 0 });
    await send(s, 20);
    await rt.setTracepoints(['xdp_redirect'], false);
    const e = rt.traceEvents('xdp_redirect');
    assert.equal(e.length, 40);
    assert.deepEqual([e[0]!.err, e[0]!.to_ifindex, e[0]!.map_id, e[0]!.map_index], [0, out.ifindex, s.obj.maps.txh!.id, 42]);
    assert.deepEqual([e[39]!.err, e[39]!.to_ifindex, e[39]!.map_id, e[39]!.map_index], [0, out.ifindex, INT_MAX, 0]);
    assert.equal(s.peers[0]!.stats().rx_packets, 40);
    assert.equal(out.stats().tx_packets, 40);
    assert.equal(percpuSum(s.counter.maps.counts!.lookupPerCpu(0)), 40);
  });

  await t.test('bulk: a poll of 40 frames to one target transmits 16, 16 and 8', async () => {
    const s = await scene(rt, 'bulk', 1);
    s.obj.maps.tx!.update(0, devmapVal(s.outs[0]!.ifindex));
    cfg(s, { 0: 0, 1: 0, 2: 0 });
    rt.clearTraceEvents();
    await send(s, 40);
    const x = rt.traceEvents('xdp_devmap_xmit');
    assert.deepEqual(x.map((e) => [e.sent, e.drops, e.err]), [[16, 0, 0], [16, 0, 0], [8, 0, 0]]);
    assert.deepEqual(x.map((e) => [e.from_ifindex, e.to_ifindex, e.act]), Array(3).fill([s.in0.ifindex, s.outs[0]!.ifindex, XDP_REDIRECT]));
    assert.equal(s.in0.stats().perCpu[0]!.rx_packets, 40);
    assert.equal(rt.stats().cpus[0]!.polls >= 1, true);
  });

  await t.test('a full peer ring: partial sends, the rest dropped and counted', async () => {
    /* the peer's ring has 4 slots and is polled by the redirecting CPU itself, so it cannot drain mid-poll */
    const s = await scene(rt, 'full', 1, 0, 4);
    s.obj.maps.tx!.update(0, devmapVal(s.outs[0]!.ifindex));
    cfg(s, { 0: 0, 1: 0, 2: 0 });
    rt.clearTraceEvents();
    await send(s, 16);
    const x = rt.traceEvents('xdp_devmap_xmit');
    assert.deepEqual(x.map((e) => [e.sent, e.drops, e.err]), [[4, 12, 0]]);
    assert.equal(s.outs[0]!.stats().dropReasons.DEVMAP_XMIT_ERR, 12);
    assert.equal(s.peers[0]!.stats().rx_packets, 4);
  });

  await t.test('a devmap program drops one egress by egress_ifindex', async () => {
    const s = await scene(rt, 'dprog', 3);
    const f = s.obj.progs.egress_filter!;
    s.outs.forEach((o, i) => s.obj.maps.tx!.update(i, devmapVal(o.ifindex, f)));
    cfg(s, { 0: 0, 1: 0, 2: BPF_F_BROADCAST, 3: s.outs[1]!.ifindex });
    rt.clearTraceEvents();
    await send(s, 30);
    assert.deepEqual(s.peers.map((p) => p.stats().rx_packets), [30, 0, 30]);
    assert.equal(s.outs[1]!.stats().dropReasons.DEVMAP_PROG_DROP, 30);
    const x = rt.traceEvents('xdp_devmap_xmit').filter((e) => e.to_ifindex === s.outs[1]!.ifindex);
    assert.equal(x.reduce((a, e) => a + (e.drops as number), 0), 30);
    assert.equal(x.reduce((a, e) => a + (e.sent as number), 0), 0);
    assert.equal(s.in0.stats().clones, 60);
    /* XDP_ABORTED, and XDP_TX, XDP_REDIRECT or a bad value (not allowed there): xdp_exception on the egress device, a drop */
    for (const act of [XDP_ABORTED, XDP_TX, XDP_REDIRECT, 9]) {
      cfg(s, { 3: 0, 5: act + 1 });
      rt.clearTraceEvents();
      await send(s, 5);
      const ex = rt.traceEvents('xdp_exception');
      assert.equal(ex.length, 15);
      assert.deepEqual(new Set(ex.map((e) => e.ifindex)), new Set(s.outs.map((o) => o.ifindex)));
      assert.ok(ex.every((e) => e.act === act && e.prog_id === f.id));
    }
    assert.deepEqual(s.outs.map((o) => o.stats().dropReasons.DEVMAP_PROG_ABORTED), [20, 20, 20]);
    cfg(s, { 5: 0 });
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
  });
});
