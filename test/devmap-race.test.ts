/*
 * Devmap entries replaced and deleted from user space while 2 CPUs
 * redirect through them, and a target device unregistered mid-stream: no
 * frame is lost or counted twice, entry records are reused only after a
 * grace period, and the unregister removes the entries that point at the
 * device (dev_map_notification).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BPF_EXIST, ENODEV, Runtime, XDP_DROP, devmapVal, type Device } from '../src/index.ts';
import { fixture } from './helpers.ts';

async function setup(rt: Runtime, tag: string) {
  const obj = await rt.loadObject(fixture('prog-redirect.ts'));
  const counter = await rt.loadObject(fixture('prog-two.ts'));
  const [in0] = rt.createVeth(`${tag}i`, `${tag}ip`, { rxQueues: 2, cpus: [0, 1] });
  in0.attachXdp(obj.progs.xdp_redir!);
  const outs: Device[] = [];
  const peers: Device[] = [];
  for (let i = 0; i < 3; i++) {
    const [o, p] = rt.createVeth(`${tag}o${i}`, `${tag}p${i}`, { rxQueues: 2, cpus: [0, 1] }, { rxQueues: 2, cpus: [1, 0] });
    p.attachXdp(counter.progs.prog_a!);
    outs.push(o);
    peers.push(p);
  }
  return { obj, in0, outs, peers };
}

test('entries replaced and deleted while 2 CPUs redirect: nothing lost, nothing twice', async () => {
  const rt = await Runtime.start({ cpus: 2 });
  try {
    const { obj, in0, outs, peers } = await setup(rt, 'rc');
    const tx = obj.maps.tx!;
    const txh = obj.maps.txh!;
    /* key = source port % 4 over 64 flows: keys 0..3 of tx, key 0..3 missing sometimes */
    obj.maps.cfg!.update(0, 3);
    obj.maps.cfg!.update(2, XDP_DROP);
    obj.maps.cfg!.update(4, 4);
    for (let k = 0; k < 4; k++) tx.update(k, devmapVal(outs[k % 3]!.ifindex));
    for (let k = 0; k < 4; k++) txh.update(k, devmapVal(outs[(k + 1) % 3]!.ifindex));
    const N = 60_000;
    const sending = in0.inject({ count: N, flows: 64 });
    let done = false;
    void sending.then(() => { done = true; });
    let ops = 0;
    while (!done) {
      const k = ops % 4;
      /* the CPUs redirect through tx (mode 3) and through txh (mode 5) by turns */
      if (ops % 64 === 0) obj.maps.cfg!.update(0, (ops >> 6) % 2 ? 5 : 3);
      switch (ops % 5) {
        case 0: tx.update(k, devmapVal(outs[(ops >> 2) % 3]!.ifindex)); break;
        case 1: tx.delete(k); break;
        case 2: tx.update(k, devmapVal(outs[(ops >> 3) % 3]!.ifindex, obj.progs.egress_filter!), BPF_EXIST); break;
        case 3: txh.update(k, devmapVal(outs[ops % 3]!.ifindex)); break;
        default: if (txh.lookup(k) !== null) txh.delete(k);
      }
      ops++;
      if (ops % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await sending;
    assert.equal(await rt.quiesce(), true);
    assert.ok(ops > 200, `only ${ops} map operations ran during the traffic`);
    const s = in0.stats();
    assert.equal(s.rx_packets, N);
    assert.equal(s.xdp_redirect + s.xdp_drop, N);
    const arrived = peers.reduce((a, p) => a + p.stats().rx_packets, 0);
    const egressDrops = outs.reduce((a, o) => a + o.stats().drops, 0);
    assert.ok(s.xdp_drop > 0 && arrived > 0, `misses ${s.xdp_drop}, arrived ${arrived}`);
    /* every redirected frame either arrived at a peer or was dropped on the way, and was counted once */
    assert.equal(arrived + egressDrops + s.dropReasons.REDIRECT_ERR, s.xdp_redirect);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
    assert.deepEqual(st.cpus.map((c) => c.bad_frees), [0, 0]);
    assert.deepEqual(st.cpus.map((c) => c.gp_violations), [0, 0]);
  } finally {
    await rt.stop();
  }
});

test('unregistering a redirect target mid-stream', async () => {
  const rt = await Runtime.start({ cpus: 2 });
  try {
    const { obj, in0, outs, peers } = await setup(rt, 'ur');
    const tx = obj.maps.tx!;
    const txh = obj.maps.txh!;
    obj.maps.cfg!.update(0, 0);
    obj.maps.cfg!.update(1, 0);
    obj.maps.cfg!.update(2, XDP_DROP);
    tx.update(0, devmapVal(outs[0]!.ifindex));
    tx.update(1, devmapVal(outs[1]!.ifindex));
    txh.update(77, devmapVal(outs[0]!.ifindex));
    txh.update(78, devmapVal(outs[1]!.ifindex));
    const N = 40_000;
    const sending = in0.inject({ count: N, flows: 64 });
    while (peers[0]!.stats().rx_packets < 2000) await new Promise((r) => setTimeout(r, 1));
    const victim = outs[0]!;
    const name = victim.name;
    await victim.delete();
    await sending;
    assert.equal(await rt.quiesce(), true);
    /* the notifier removed both entries that pointed at it, and left the others */
    assert.equal(tx.lookup(0), null);
    assert.equal(txh.lookup(77), null);
    assert.notEqual(tx.lookup(1), null);
    assert.notEqual(txh.lookup(78), null);
    assert.throws(() => rt.device(name), { errno: ENODEV });
    assert.throws(() => rt.device(peers[0]!.name), { errno: ENODEV });
    assert.equal(victim.deleted && peers[0]!.deleted, true);
    assert.equal(rt.listDevices().some((d) => d.name === name), false);
    const s = in0.stats();
    assert.equal(s.rx_packets, N);
    assert.ok(s.xdp_drop > 0, 'after the unregister, lookups miss and take the fallback');
    const got = peers[0]!.stats().rx_packets;
    assert.ok(got >= 2000 && got < N);
    const st = await rt.stop();
    /* the deleted devices' counters are still there, so everything reconciles */
    assert.equal(st.devices.find((d) => d.name === name)!.registered, false);
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
    assert.deepEqual(st.cpus.map((c) => c.gp_violations), [0, 0]);
  } finally {
    await rt.stop();
  }
});

test('deleting a device an injection is feeding ends the injection; a second delete of the pair is refused', async () => {
  const rt = await Runtime.start({ cpus: 2 });
  try {
    const [a, b] = rt.createVeth('dia', 'dib', { rxQueues: 2 });
    const sending = a.inject({ count: 5_000_000, flows: 16 });
    while (a.stats().rx_packets < 1000) await new Promise((r) => setTimeout(r, 1));
    const [first, second] = await Promise.allSettled([a.delete(), b.delete()]);
    assert.equal(first.status, 'fulfilled');
    assert.equal(second.status, 'rejected');
    assert.equal((second as PromiseRejectedResult).reason.errno, ENODEV);
    const r = await sending;
    assert.equal(r.aborted, 'device down');
    assert.ok(r.sent < 5_000_000);
    /* a new device may take the freed queue rows and works */
    const [c] = rt.createVeth('dic', 'did', { rxQueues: 2 });
    await c.inject({ count: 100 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(c.stats().stack, 100);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
    assert.equal(st.devices.find((d) => d.name === 'dia')!.injected, r.sent);
  } finally {
    await rt.stop();
  }
});
