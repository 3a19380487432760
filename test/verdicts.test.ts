/*
 * Every XDP verdict, with exact counts: XDP_DROP, XDP_PASS, XDP_TX,
 * XDP_ABORTED, XDP_REDIRECT (the seam: dropped with a counted reason until
 * redirect targets exist), and an action outside 0..4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EBADRQC, Runtime, XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX, type Device, type BpfObject,
} from '../src/index.ts';
import { fixture, percpuSum } from './helpers.ts';

const N = 1000;

async function scenario(rt: Runtime, name: string, act: number): Promise<{ v0: Device; v1: Device; obj: BpfObject }> {
  const [v0, v1] = rt.createVeth(`${name}a`, `${name}b`, { rxQueues: 2 });
  const obj = await rt.loadObject(fixture('prog-verdict.ts'));
  obj.maps.config!.update(0, act);
  v0.attachXdp(obj.progs.verdict!);
  return { v0, v1, obj };
}

test('verdicts: each action with exact counts', async (t) => {
  const rt = await Runtime.start({ cpus: 2 });
  t.after(() => rt.stop());

  await t.test('XDP_DROP frees every frame, reason XDP_DROP', async () => {
    const { v0, obj } = await scenario(rt, 'drop', XDP_DROP);
    assert.deepEqual(await v0.inject({ count: N, flows: 16 }), { sent: N, dropped: 0 });
    assert.equal(await rt.quiesce(), true);
    const s = v0.stats();
    assert.equal(s.rx_packets, N);
    assert.equal(s.rx_bytes, N * 64);
    assert.equal(s.xdp_drop, N);
    assert.equal(s.drops, N);
    assert.equal(s.dropReasons.XDP_DROP, N);
    assert.equal(s.stack + s.xdp_pass + s.xdp_tx + s.xdp_aborted, 0);
    assert.equal(percpuSum(obj.maps.seen!.lookupPerCpu(0)), N);
    /* both RX queues (one per CPU) got traffic */
    assert.ok(s.perCpu[0]!.rx_packets > 0 && s.perCpu[1]!.rx_packets > 0);
    assert.equal(s.perCpu[0]!.rx_packets + s.perCpu[1]!.rx_packets, N);
  });

  await t.test('XDP_PASS hands every frame to the stack, and a copy to the handler', async () => {
    const { v0 } = await scenario(rt, 'pass', XDP_PASS);
    const copies: Uint8Array[] = [];
    v0.onPass((p) => { assert.equal(p.ifindex, v0.ifindex); copies.push(p.data); });
    await v0.inject({ count: 100, size: 128 });
    assert.equal(await rt.quiesce(), true);
    rt.collect();
    const s = v0.stats();
    assert.equal(s.xdp_pass, 100);
    assert.equal(s.stack, 100);
    assert.equal(s.drops, 0);
    assert.equal(copies.length, 100);
    assert.equal(copies[0]!.length, 128);
    assert.equal(copies[0]![12], 0x08); /* EtherType IPv4 */
  });

  await t.test('XDP_TX sends through the device to its peer, in bulks of at most 16', async () => {
    const { v0, v1 } = await scenario(rt, 'tx', XDP_TX);
    const passObj = await rt.loadObject(fixture('prog-two.ts'));
    v1.attachXdp(passObj.progs.prog_a!);
    rt.clearTraceEvents();
    await v0.inject({ count: N, flows: 16 });
    assert.equal(await rt.quiesce(), true);
    const s0 = v0.stats();
    const s1 = v1.stats();
    assert.equal(s0.xdp_tx, N);
    assert.equal(s0.xdp_tx_sent, N);
    assert.equal(s0.xdp_tx_err, 0);
    assert.equal(s0.tx_packets, N);
    assert.equal(s1.rx_packets, N);
    assert.equal(s1.xdp_pass, N);
    assert.equal(percpuSum(passObj.maps.counts!.lookupPerCpu(0)), N);
    const bulk = rt.traceEvents('xdp_bulk_tx').filter((e) => e.ifindex === v0.ifindex);
    assert.equal(bulk.reduce((a, e) => a + (e.sent as number), 0), N);
    for (const e of bulk) {
      assert.equal(e.act, XDP_TX);
      assert.equal(e.err, 0);
      assert.equal(e.drops, 0);
      assert.ok((e.sent as number) >= 1 && (e.sent as number) <= 16, `bulk of ${e.sent}`);
    }
    assert.ok(bulk.length >= Math.ceil(N / 16));
  });

  await t.test('XDP_ABORTED drops with an xdp_exception record', async () => {
    const { v0, obj } = await scenario(rt, 'abrt', XDP_ABORTED);
    rt.clearTraceEvents();
    await v0.inject({ count: 50 });
    assert.equal(await rt.quiesce(), true);
    const s = v0.stats();
    assert.equal(s.xdp_aborted, 50);
    assert.equal(s.dropReasons.XDP_ABORTED, 50);
    const ex = rt.traceEvents('xdp_exception');
    assert.equal(ex.length, 50);
    assert.deepEqual({ prog_id: ex[0]!.prog_id, act: ex[0]!.act, ifindex: ex[0]!.ifindex }, { prog_id: obj.progs.verdict!.id, act: XDP_ABORTED, ifindex: v0.ifindex });
  });

  await t.test('XDP_REDIRECT without a helper call: no target, -EBADRQC, dropped', async () => {
    const { v0, obj } = await scenario(rt, 'redir', XDP_REDIRECT);
    rt.clearTraceEvents();
    await v0.inject({ count: 40 });
    assert.equal(await rt.quiesce(), true);
    const s = v0.stats();
    assert.equal(s.xdp_redirect, 40);
    assert.equal(s.dropReasons.REDIRECT_ERR, 40);
    assert.equal(s.drops, 40);
    const e = rt.traceEvents('xdp_redirect_err');
    assert.equal(e.length, 40);
    assert.deepEqual({ ...e[0], cpu: 0, ts: 0 }, {
      cpu: 0, ts: 0, event: 'xdp_redirect_err', prog_id: obj.progs.verdict!.id, act: XDP_REDIRECT, act_name: 'XDP_REDIRECT',
      ifindex: v0.ifindex, err: -EBADRQC, to_ifindex: 0, map_id: 0, map_index: 0,
    });
  });

  await t.test('an action outside 0..4: dropped, xdp_exception with the bad act', async () => {
    const { v0, obj } = await scenario(rt, 'inval', 7);
    rt.clearTraceEvents();
    await v0.inject({ count: 30 });
    assert.equal(await rt.quiesce(), true);
    const s = v0.stats();
    assert.equal(s.xdp_invalid, 30);
    assert.equal(s.dropReasons.XDP_INVALID_ACTION, 30);
    const ex = rt.traceEvents('xdp_exception');
    assert.equal(ex.length, 30);
    assert.equal(ex[0]!.act, 7);
    assert.equal(ex[0]!.prog_id, obj.progs.verdict!.id);
  });

  await t.test('no program: every frame goes to the stack, no verdict counted', async () => {
    const [v0] = rt.createVeth('noproga', 'noprogb');
    await v0.inject({ count: 25 });
    assert.equal(await rt.quiesce(), true);
    const s = v0.stats();
    assert.equal(s.stack, 25);
    assert.equal(s.xdp_pass + s.xdp_drop, 0);
  });

  await t.test('after all of it, frames are conserved', async () => {
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
    assert.equal(st.totals.in_flight, 0);
    assert.equal(st.totals.injected, N + 100 + N + 50 + 40 + 30 + 25);
  });
});
