/*
 * Programs are freed after a grace period once nothing holds them (bpf_prog_put):
 * not while a device or a devmap entry still does, and never under a CPU
 * still running them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XDP_FLAGS_REPLACE, devmapVal } from '../src/index.ts';
import { fixture, withRuntime } from './helpers.ts';

test('replaced, detached and unloaded programs are freed after a grace period, never under traffic', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0] = rt.createVeth('pla', 'plb', { rxQueues: 2 });
    const obj = await rt.loadObject(fixture('prog-two.ts'));
    const { prog_a: a, prog_b: b } = obj.progs;
    v0.attachXdp(a!);
    const sending = v0.inject({ count: 200_000, flows: 64 });
    await new Promise((r) => setTimeout(r, 20));
    v0.attachXdp(b!, { flags: XDP_FLAGS_REPLACE, expected: a! });
    /* the object goes: a (replaced) and devmap_prog (never used) have no holder left; b is held by the device */
    rt.unloadObject(obj);
    await rt.rcuBarrier();
    assert.equal(rt.stats().rcu.programsFreed, 2);
    assert.throws(() => v0.attachXdp(a!), { code: 'EINVAL' });
    assert.throws(() => rt.unloadObject(obj), { code: 'EINVAL' });
    await sending;
    assert.equal(await rt.quiesce(), true);
    /* b still runs: every frame met a or b, none a freed program */
    let s = v0.stats();
    assert.equal(s.xdp_pass, 200_000);
    assert.deepEqual(rt.stats().cpus.map((c) => c.prog_use_after_free), [0, 0]);
    /* detaching b frees it */
    v0.detachXdp();
    await rt.rcuBarrier();
    assert.equal(rt.stats().rcu.programsFreed, 3);
    await v0.inject({ count: 10 });
    assert.equal(await rt.quiesce(), true);
    s = v0.stats();
    assert.equal(s.stack, 200_010);
  });
});

test('a devmap entry holds its program until the entry is freed', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [v0] = rt.createVeth('pdb', 'pdbp');
    const obj = await rt.loadObject(fixture('prog-redirect.ts'));
    obj.maps.tx!.update(0, devmapVal(v0.ifindex, obj.progs.egress_filter!));
    rt.unloadObject(obj);
    await rt.rcuBarrier();
    /* xdp_redir had no holder; egress_filter is held by the entry */
    assert.equal(rt.stats().rcu.programsFreed, 1);
    obj.maps.tx!.delete(0);
    /* the record is freed at the next reuse after its grace period: make one happen */
    await rt.synchronizeRcu();
    obj.maps.tx!.update(1, devmapVal(v0.ifindex));
    await rt.rcuBarrier();
    assert.equal(rt.stats().rcu.programsFreed, 2);
  });
});
