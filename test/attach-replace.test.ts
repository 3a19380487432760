/*
 * Attach, replace and detach while traffic flows: the program pointer is
 * swapped atomically (XDP_FLAGS_REPLACE is a compare-and-exchange), every
 * frame meets exactly one program or none, and no frame is lost. Also the
 * attach errors: -EBUSY (UPDATE_IF_NOEXIST), -EEXIST (REPLACE with the
 * wrong expected program), -EINVAL (a devmap program on a device).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XDP_FLAGS_REPLACE, XDP_FLAGS_UPDATE_IF_NOEXIST } from '../src/index.ts';
import { fixture, percpuSum, withRuntime } from './helpers.ts';

test('attach/replace while traffic flows loses no frame', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0] = rt.createVeth('ara', 'arb', { rxQueues: 2 });
    const obj = await rt.loadObject(fixture('prog-two.ts'));
    const { prog_a: a, prog_b: b } = obj.progs as Required<typeof obj.progs>;
    assert.equal(v0.attachXdp(a!), 0);
    const N = 40_000;
    const sending = v0.inject({ count: N, flows: 64 });
    let swaps = 0;
    let cur = a!;
    while (true) {
      const done = await Promise.race([sending.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1))]);
      if (done) break;
      const next = cur === a ? b! : a!;
      assert.equal(v0.attachXdp(next, { flags: XDP_FLAGS_REPLACE, expected: cur }), cur.id);
      cur = next;
      swaps++;
      if (swaps % 7 === 0) {
        /* a detach and re-attach in the middle: those frames go to the stack without a program */
        assert.equal(v0.detachXdp(), cur.id);
        assert.equal(v0.attachXdp(cur, { flags: XDP_FLAGS_UPDATE_IF_NOEXIST }), 0);
      }
    }
    assert.equal(await rt.quiesce(), true);
    const s = v0.stats();
    const ca = percpuSum(obj.maps.counts!.lookupPerCpu(0));
    const cb = percpuSum(obj.maps.counts!.lookupPerCpu(1));
    assert.ok(swaps >= 3, `only ${swaps} swaps happened while traffic flowed`);
    assert.ok(ca > 0 && cb > 0, `both programs ran (a ${ca}, b ${cb})`);
    assert.equal(s.rx_packets, N);
    assert.equal(ca + cb, s.xdp_pass);
    assert.equal(s.stack, N);
    assert.equal(s.drops, 0);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
  });
});

test('attach errors: EBUSY, EEXIST, EINVAL', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [v0] = rt.createVeth('aea', 'aeb');
    const obj = await rt.loadObject(fixture('prog-two.ts'));
    const { prog_a: a, prog_b: b, devmap_prog: dm } = obj.progs;
    v0.attachXdp(a!);
    assert.throws(() => v0.attachXdp(b!, { flags: XDP_FLAGS_UPDATE_IF_NOEXIST }), { code: 'EBUSY', errno: 16 });
    assert.throws(() => v0.attachXdp(a!, { flags: XDP_FLAGS_REPLACE, expected: b! }), { code: 'EEXIST', errno: 17 });
    assert.throws(() => v0.attachXdp(a!, { flags: XDP_FLAGS_REPLACE, expected: null }), { code: 'EEXIST' });
    assert.throws(() => v0.attachXdp(dm!), (e: Error & { code?: string }) => e.code === 'EINVAL' && /xdp\/devmap/.test(e.message));
    assert.throws(() => v0.attachXdp(b!, { flags: 1 << 9 }), { code: 'EINVAL' });
    /* dev_xdp_attach(): the expected program matches, but UPDATE_IF_NOEXIST still refuses */
    assert.throws(() => v0.attachXdp(b!, { flags: XDP_FLAGS_REPLACE | XDP_FLAGS_UPDATE_IF_NOEXIST, expected: a! }), { code: 'EBUSY' });
    assert.equal(v0.xdpProgId, a!.id);
    /* an expected program without XDP_FLAGS_REPLACE is ignored, as rtnetlink ignores IFLA_XDP_EXPECTED_FD */
    assert.equal(v0.attachXdp(a!, { expected: b! }), a!.id);
    /* a replace that names the attached program wins */
    assert.equal(v0.attachXdp(b!, { flags: XDP_FLAGS_REPLACE, expected: a! }), a!.id);
    assert.equal(v0.xdpProgId, b!.id);
    /* two loads of one file are two objects with their own maps and ids */
    const again = await rt.loadObject(fixture('prog-two.ts'));
    assert.notEqual(again.progs.prog_a!.id, a!.id);
    assert.notEqual(again.maps.counts!.id, obj.maps.counts!.id);
  });
});
