/*
 * Multi-buffer frames (XDP_FLAGS_HAS_FRAGS): fragments in the head's
 * skb_shared_info, the frame's length with its fragments (rx bytes, the
 * MTU check), copies that see all of it, fragments freed with the head,
 * broadcast clones, and generated jumbo frames.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TapPacket } from '../src/index.ts';
import { compileTraffic } from '../src/gen/packets.ts';
import { decodeRef } from './fixtures/decode-ref.ts';
import { fixture, withRuntime } from './helpers.ts';

test('a multi-buffer frame reaches the stack whole; its bytes count; its fragments come home', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [v0] = rt.createVeth('f0', 'f0p', { mtu: 9000 });
    const got: TapPacket[] = [];
    v0.onPass((p) => got.push(p));
    /* 1000 bytes: 200 in the head, 800 in one fragment */
    await v0.inject({ count: 3, size: 1000, frags: 200 });
    /* 9000 bytes with the buffer's whole linear room in the head: 3520 + 4096 + 1384 */
    await v0.inject({ count: 2, size: 9000, frags: true });
    assert.equal(await rt.quiesce(), true);
    rt.collect();
    assert.deepEqual(got.map((p) => [p.data.length, p.len]), [[1000, 1000], [1000, 1000], [1000, 1000], [4096, 9000], [4096, 9000]]);
    const d = decodeRef(got[0]!.data);
    assert.equal(d.ipv4?.headerChecksumOk, true);
    assert.equal(d.udp?.checksumOk, true, 'the bytes after the head are the fragment\'s');
    const s = v0.stats();
    assert.equal(s.rx_packets, 5);
    assert.equal(s.rx_bytes, 3 * 1000 + 2 * 9000);
    const st = rt.stats();
    assert.equal(st.pool.frags, 0);
    assert.equal(st.conserved, true);
    await assert.rejects(v0.inject({ size: 9000 }), /frags: true makes it a multi-buffer frame/);
    await assert.rejects(v0.inject({ size: 1000, frags: 10 }), /the linear part must be 14\.\.3520 bytes/);
  });
});

test('redirect of multi-buffer frames: the MTU check counts the fragments, SG targets take them, broadcast clones them', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [in0] = rt.createVeth('m0', 'm0p', { mtu: 9000 });
    const small = rt.createSink('small', { mtu: 900 });
    const big = rt.createSink('big', { mtu: 9000 });
    const [out0, outp] = rt.createVeth('o0', 'o0p', { mtu: 9000 }, { mtu: 9000 });
    const pass = await rt.loadObject(fixture('prog-verdict.ts'));
    pass.maps.config!.update(0, 2);
    outp.attachXdp(pass.progs.verdict!);
    const seen: TapPacket[] = [];
    outp.onPass((p) => seen.push(p));
    const fwd = await rt.loadObject(new URL('../examples/devmap_tx_port.ts', import.meta.url).pathname);
    in0.attachXdp(fwd.progs.xdp_redirect_map_func!);
    /* broadcast to every entry but the ingress: big and the veth get the frame, small refuses it (1000 > 900 + 18) */
    fwd.maps.tx_port!.update(1, small.ifindex);
    fwd.maps.tx_port!.update(2, big.ifindex);
    fwd.maps.tx_port!.update(3, out0.ifindex);
    rt.clearTraceEvents();
    await in0.inject({ count: 4, size: 1000, frags: 100 });
    assert.equal(await rt.quiesce(), true);
    rt.collect();
    assert.equal(small.stats().tx_packets, 0);
    assert.equal(big.stats().tx_packets, 4);
    assert.equal(big.stats().tx_bytes, 4000);
    assert.equal(out0.stats().tx_bytes, 4000);
    assert.equal(in0.stats().clones, 4);
    assert.deepEqual(seen.map((p) => p.len), [1000, 1000, 1000, 1000]);
    const tr = compileTraffic({ size: 1000 });
    const want = new Uint8Array(1000);
    tr.write(0, 1000, want, 0);
    assert.deepEqual(seen[0]!.data.subarray(100), want.subarray(100), 'the clone carries the fragment\'s bytes');
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.frags, 0);
    assert.equal(st.pool.free, st.pool.frames);
  });
});

test('generated jumbo frames: multi-buffer, recycled with their fragments, all of it back at the end', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0] = rt.createVeth('j0', 'j0p', { rxQueues: 2, mtu: 9000 });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, 1); /* XDP_DROP */
    v0.attachXdp(obj.progs.verdict!);
    await assert.rejects(v0.generate({ traffic: { size: 9000 } }), /frags: true makes them multi-buffer frames/);
    const r = await (await v0.generate({ traffic: { size: 9000, flows: 8 }, frags: true, count: 20_000 })).done;
    assert.equal(r.sent, 20_000);
    assert.equal(r.ended, 'done');
    await rt.quiesce();
    const s = v0.stats();
    assert.equal(s.rx_bytes, 20_000 * 9000);
    assert.equal(s.xdp_drop, 20_000);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.frags, 0);
    assert.equal(st.pool.free, st.pool.frames);
  });
});
