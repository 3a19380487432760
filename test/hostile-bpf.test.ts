/*
 * BPF programs that would never end (issue 15, point 2): recursion is
 * refused at load (E2BIG, the kernel's "the call stack of 9 frames is too
 * deep"); a loop that does not end costs its run about a million
 * instructions (BPF_COMPLEXITY_LIMIT_INSNS), a millisecond or two, not the
 * half second per frame of 2^24 backward jumps, so grace periods go on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdpsimError } from '../src/index.ts';
import { BUILDS, buildSkip, fixture } from './objects.ts';
import { withRuntime } from './helpers.ts';

for (const build of BUILDS) {
  test(`recursion is refused at load: E2BIG, the call stack too deep (${build} hostile.o -DRECURSE)`, { skip: buildSkip(build) }, async () => {
    const obj = fixture('hostile', 'v3', ['-DRECURSE'], undefined, build);
    await withRuntime({ cpus: 1 }, async (rt) => {
      await assert.rejects(rt.loadObject(obj), (e: unknown) => e instanceof XdpsimError && e.code === 'E2BIG'
        && /program recurse, instruction \d+ \(\.text\+\d+\): the call stack of 9 frames is too deep: the function at instruction \d+ calls itself/.test(e.message));
      /* nothing of the object stays: the runtime goes on */
      const st = await rt.stop();
      assert.equal(st.conserved, true);
    });
  });

  test(`a loop that does not end costs its frame about a million instructions; grace periods go on (${build} hostile.o)`, { skip: buildSkip(build) }, async () => {
    const obj = fixture('hostile', 'v3', [], undefined, build);
    await withRuntime({ cpus: 2 }, async (rt) => {
      const [v0] = rt.createVeth('spa', 'spb', { rxQueues: 1, cpus: [1] });
      const o = await rt.loadObject(obj);
      v0.attachXdp(o.progs.spin!);
      o.maps.config!.update(0, 1);
      const qs0 = rt.stats().cpus[1]!.qs;
      const t0 = performance.now();
      const N = 256;
      /* a grace period asked for while CPU 1 spins through its frames */
      const inj = v0.inject({ count: N });
      await new Promise((r) => setTimeout(r, 5));
      const g0 = performance.now();
      await rt.rcu.synchronize();
      const gp = performance.now() - g0;
      await inj;
      assert.equal(await rt.quiesce(10_000), true);
      const ms = performance.now() - t0;
      const s = v0.stats();
      assert.equal(s.xdp_exception, N);
      assert.equal(s.dropReasons.XDP_EXCEPTION, N);
      assert.match(rt.stats().cpus[1]!.last_exception, /spin: instruction \d+ \(xdp\+\d+\): more than 1000000 instructions in one run \(BPF_COMPLEXITY_LIMIT_INSNS\)/);
      /*
       * A run costs a millisecond or two here (2^24 backward jumps took half
       * a second: 128 s for these frames, and a grace period waited for a
       * whole poll of 64 of them, 30 s). The bounds leave room for a loaded
       * machine: 40 ms a frame, 200 ms a grace period (a few ms idle).
       */
      assert.ok(ms < N * 40, `${N} spinning frames took ${ms.toFixed(0)} ms`);
      /* after each run ended at the limit the CPU flushes and passes a quiescent state: a grace period waits for one run, not a poll of 64 */
      assert.ok(rt.stats().cpus[1]!.qs - qs0 >= N - 1, `quiescent states while spinning: ${rt.stats().cpus[1]!.qs - qs0}`);
      assert.ok(gp < 200, `a grace period took ${gp.toFixed(0)} ms`);
      /* the CPU carries on: the same program passes when the loop ends */
      o.maps.config!.update(0, 0);
      await v0.inject({ count: 100 });
      assert.equal(await rt.quiesce(), true);
      assert.equal(v0.stats().xdp_pass, 100);
      const st = await rt.stop();
      assert.equal(st.conserved, true);
      assert.equal(st.cpus[1]!.dead, null);
    });
  });
}
