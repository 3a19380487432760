/*
 * BPF_F_BROADCAST: the frame goes to every valid entry of the map (n-1
 * clones, the last entry takes the original), skipping the ingress device
 * with BPF_F_EXCLUDE_INGRESS, for DEVMAP and DEVMAP_HASH; invalid entries
 * are skipped silently; an empty map frees the frame. Also the seed's
 * examples (Documentation/bpf/map_devmap.rst), run as written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, Runtime, devmapVal, type Device } from '../src/index.ts';
import { updateForwardMap, updateTxPort } from '../examples/update_devmap.ts';
import { fixture, percpuSum } from './helpers.ts';

const example = (f: string): string => fileURLToPath(new URL(`../examples/${f}`, import.meta.url));

test('broadcast on 4 devices, both map types, with and without exclude-ingress', async () => {
  const rt = await Runtime.start({ cpus: 2 });
  try {
    const obj = await rt.loadObject(fixture('prog-redirect.ts'));
    const counter = await rt.loadObject(fixture('prog-two.ts'));
    /* four veths; the first is also the ingress */
    const devs: Device[] = [];
    const peers: Device[] = [];
    for (let i = 0; i < 4; i++) {
      const [d, p] = rt.createVeth(`bc${i}`, `bcp${i}`, { rxQueues: 1, cpus: [i % 2] }, { rxQueues: 1, cpus: [(i + 1) % 2] });
      p.attachXdp(counter.progs.prog_a!);
      devs.push(d);
      peers.push(p);
    }
    const in0 = devs[0]!;
    in0.attachXdp(obj.progs.xdp_redir!);
    devs.forEach((d, i) => {
      obj.maps.tx!.update(i * 3, devmapVal(d.ifindex));
      obj.maps.txh!.update(d.ifindex, devmapVal(d.ifindex));
    });
    const rx = (): number[] => peers.map((p) => p.stats().rx_packets);
    let expect = [0, 0, 0, 0];
    let clones = 0;
    const N = 100;
    for (const mode of [0, 1]) {
      for (const exclude of [false, true]) {
        obj.maps.cfg!.update(0, mode);
        obj.maps.cfg!.update(1, 12345); /* a missing key: broadcast does not care */
        obj.maps.cfg!.update(2, BPF_F_BROADCAST | (exclude ? BPF_F_EXCLUDE_INGRESS : 0));
        await in0.inject({ count: N, flows: 8 });
        assert.equal(await rt.quiesce(), true);
        expect = expect.map((v, i) => v + (exclude && i === 0 ? 0 : N));
        clones += N * (exclude ? 2 : 3);
        assert.deepEqual(rx(), expect, `mode ${mode}, exclude ${exclude}`);
        assert.equal(in0.stats().clones, clones);
      }
    }
    /* an entry that cannot transmit (its peer has no program) is skipped, not an error (ingress still excluded) */
    peers[3]!.detachXdp();
    await in0.inject({ count: N });
    assert.equal(await rt.quiesce(), true);
    expect = expect.map((v, i) => v + (i === 0 || i === 3 ? 0 : N));
    assert.deepEqual(rx(), expect);
    assert.equal(in0.stats().dropReasons.REDIRECT_ERR, 0);
    /* with exclude-ingress and a map holding only the ingress: freed, counted as BROADCAST_EMPTY */
    const [solo] = rt.createVeth('bsolo', 'bsolop', { rxQueues: 1, cpus: [0] });
    const obj2 = await rt.loadObject(fixture('prog-redirect.ts'));
    obj2.maps.tx!.update(0, devmapVal(solo.ifindex));
    obj2.maps.cfg!.update(2, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
    solo.attachXdp(obj2.progs.xdp_redir!);
    await solo.inject({ count: 7 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(solo.stats().dropReasons.BROADCAST_EMPTY, 7);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
    assert.equal(st.totals.clones, clones + N);
  } finally {
    await rt.stop();
  }
});

test("the seed's examples: tx_port broadcast with exclude-ingress, forward_map, update_devmap", async () => {
  const rt = await Runtime.start({ cpus: 2 });
  try {
    const counter = await rt.loadObject(fixture('prog-two.ts'));
    const ports: Device[] = [];
    const peers: Device[] = [];
    for (let i = 0; i < 3; i++) {
      const [d, p] = rt.createVeth(`sd${i}`, `sdp${i}`, { rxQueues: 1, cpus: [0] }, { rxQueues: 1, cpus: [1] });
      p.attachXdp(counter.progs.prog_a!);
      ports.push(d);
      peers.push(p);
    }
    /* tx_port: user space fills it keyed by ingress ifindex; the program broadcasts to all but the ingress */
    const a = await rt.loadObject(example('devmap_tx_port.ts'));
    for (const p of ports) assert.equal(updateTxPort(a.maps.tx_port!, p.ifindex, p.ifindex), 0);
    assert.equal(updateTxPort(a.maps.tx_port!, 300, ports[0]!.ifindex), -7 /* E2BIG */);
    ports[0]!.attachXdp(a.progs.xdp_redirect_map_func!);
    await ports[0]!.inject({ count: 50 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(peers.map((p) => p.stats().rx_packets), [0, 50, 50]);
    /* forward_map: sd1 forwards to sd2 through a DEVMAP_HASH entry whose devmap program marks the frame */
    const b = await rt.loadObject(example('devmap_forward_map.ts'));
    assert.equal(updateForwardMap(b.maps.forward_map!, ports[1]!.ifindex, ports[2]!.ifindex, b.progs.xdp_devmap_mark!), 0);
    assert.equal(updateForwardMap(b.maps.forward_map!, ports[2]!.ifindex, 0), -22 /* EINVAL */);
    ports[1]!.attachXdp(b.progs.xdp_redirect_hash_func!);
    const seen: Uint8Array[] = [];
    peers[2]!.detachXdp();
    peers[2]!.attachXdp(counter.progs.prog_b!);
    const peer2 = peers[2]!;
    /* prog_b passes: the copy shows the mark the devmap program wrote */
    peer2.onPass((p) => seen.push(p.data));
    await ports[1]!.inject({ count: 20 });
    assert.equal(await rt.quiesce(), true);
    rt.collect();
    assert.equal(percpuSum(counter.maps.counts!.lookupPerCpu(1)), 20);
    assert.equal(seen.length, 20);
    assert.equal(seen[0]![11], ports[2]!.ifindex & 0xff);
    /* a frame with no forward_map entry gets the miss verdict: XDP_PASS */
    await ports[2]!.inject({ count: 3 });
    assert.equal(await rt.quiesce(), true);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
  } finally {
    await rt.stop();
  }
});
