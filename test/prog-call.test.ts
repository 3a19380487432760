/*
 * The program call: a CPU gives its first two programs their own call
 * sites (so V8 can inline them) and calls any other through a third; every
 * program still gets exactly its own frames, with no receiver, and a
 * replaced program's call site serves the next one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withRuntime, fixture } from './helpers.ts';

test('four programs on one CPU: each device gets its own program\'s verdict, none sees a `this`', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const obj = await rt.loadObject(fixture('prog-calls.ts'));
    /* call_this first: it takes a single-program call site */
    const names = ['call_this', 'call_pass', 'call_drop', 'call_tx'] as const;
    const devs = names.map((n, i) => {
      const [a, b] = rt.createVeth(`pc${i}a`, `pc${i}b`, { rxQueues: 1, cpus: [0] }, { rxQueues: 1, cpus: [0] });
      a.attachXdp(obj.progs[n]!);
      b.attachXdp(obj.progs.call_drop!);
      return a;
    });
    /* in rounds, so every program runs through every call site it can reach */
    for (let r = 0; r < 3; r++) {
      for (const d of devs) await d.inject({ count: 50 });
      assert.equal(await rt.quiesce(), true);
    }
    const st = devs.map((d) => d.stats());
    assert.deepEqual(st.map((s) => [s.xdp_pass, s.xdp_drop, s.xdp_tx]), [[150, 0, 0], [150, 0, 0], [0, 150, 0], [0, 0, 150]]);
    /* the peer of the XDP_TX device dropped what it sent back */
    assert.equal(st[3]!.xdp_tx_sent, 150);
  });
});

test('a replaced program frees its call site: the new one and the others keep their verdicts', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const obj = await rt.loadObject(fixture('prog-calls.ts'));
    const [a] = rt.createVeth('pra', 'prb', { rxQueues: 1, cpus: [0] });
    const [c] = rt.createVeth('prc', 'prd', { rxQueues: 1, cpus: [0] });
    a.attachXdp(obj.progs.call_pass!);
    c.attachXdp(obj.progs.call_drop!);
    await a.inject({ count: 10 });
    await c.inject({ count: 10 });
    assert.equal(await rt.quiesce(), true);
    const other = await rt.loadObject(fixture('prog-calls.ts'));
    a.attachXdp(other.progs.call_tx!);
    c.attachXdp(other.progs.call_pass!);
    rt.unloadObject(obj);
    /* the old programs are freed on the CPU after a grace period */
    await rt.quiesce();
    await a.inject({ count: 10 });
    await c.inject({ count: 10 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual([a.stats().xdp_pass, a.stats().xdp_tx, c.stats().xdp_drop, c.stats().xdp_pass], [10, 10, 10, 10]);
  });
});
