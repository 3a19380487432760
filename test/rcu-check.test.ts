/*
 * The RCU read-side check: with it on, devmap entries replaced and deleted
 * under redirect traffic on 2 CPUs show zero violations; and each planted
 * fault (free without a grace period, a grace period that ignores a CPU, a
 * quiescent state in the middle of a poll, bulk queues flushed after the
 * quiescent state) is caught as violations within a bounded run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BPF_EXIST, Runtime, XDP_DROP, devmapVal, type Device } from '../src/index.ts';
import type { RcuFault } from '../src/shared/rcu.ts';
import { fixture } from './helpers.ts';
import { RcuCheck } from '../src/cpu/redirect.ts';
import type { DevMap } from '../src/maps/devmap.ts';

/** Redirect traffic on 2 CPUs through tx and txh while user space churns their entries, until `until` says stop. */
async function churn(rt: Runtime, maxMs: number, until: () => boolean): Promise<number> {
  const obj = await rt.loadObject(fixture('prog-redirect.ts'));
  const counter = await rt.loadObject(fixture('prog-two.ts'));
  const [in0] = rt.createVeth('cki', 'ckip', { rxQueues: 2, cpus: [0, 1] });
  in0.attachXdp(obj.progs.xdp_redir!);
  const outs: Device[] = [];
  for (let i = 0; i < 3; i++) {
    const [o, p] = rt.createVeth(`cko${i}`, `ckp${i}`, { rxQueues: 2, cpus: [0, 1] }, { rxQueues: 2, cpus: [1, 0] });
    p.attachXdp(counter.progs.prog_a!);
    outs.push(o);
  }
  const { tx, txh, cfg } = obj.maps as Required<typeof obj.maps>;
  cfg!.update(0, 3);
  cfg!.update(2, XDP_DROP);
  cfg!.update(4, 4);
  for (let k = 0; k < 4; k++) {
    tx!.update(k, devmapVal(outs[k % 3]!.ifindex));
    txh!.update(k, devmapVal(outs[(k + 1) % 3]!.ifindex));
  }
  const end = performance.now() + maxMs;
  let ops = 0;
  while (performance.now() < end && !until()) {
    const sending = in0.inject({ count: 20_000, flows: 64 });
    let done = false;
    void sending.then(() => { done = true; });
    while (!done) {
      const k = ops % 4;
      if (ops % 64 === 0) cfg!.update(0, (ops >> 6) % 2 ? 5 : 3);
      switch (ops % 4) {
        case 0: tx!.update(k, devmapVal(outs[(ops >> 2) % 3]!.ifindex)); break;
        case 1: tx!.update(k, devmapVal(outs[(ops >> 3) % 3]!.ifindex, obj.progs.egress_filter!), BPF_EXIST); break;
        case 2: txh!.update(k, devmapVal(outs[ops % 3]!.ifindex)); break;
        default: tx!.delete(k);
      }
      ops++;
      if (ops % 8 === 0) await new Promise((r) => setImmediate(r));
    }
  }
  return ops;
}

const violations = (rt: Runtime): number => rt.stats().cpus.reduce((a, c) => a + c.gp_violations + c.qs_with_pending_bulk, 0);

test('read-side check on: replacement under traffic shows zero violations', async () => {
  const rt = await Runtime.start({ cpus: 2, rcuCheck: true });
  try {
    const ops = await churn(rt, 3000, () => false);
    assert.equal(await rt.quiesce(), true);
    const st = await rt.stop();
    assert.ok(ops > 300, `${ops} updates`);
    assert.equal(violations(rt), 0);
    assert.ok(st.cpus.every((c) => c.rcu_checked > 1000), `records checked: ${st.cpus.map((c) => c.rcu_checked)}`);
    /* every record a reader held was at pipeline age 0 */
    for (const c of st.cpus) {
      assert.equal(c.rcu_pipeline[0], c.rcu_checked);
      assert.deepEqual(c.rcu_pipeline.slice(1), [0, 0, 0]);
    }
    assert.equal(st.conserved, true);
    assert.ok(st.rcu.gracePeriods > 0);
  } finally {
    await rt.stop();
  }
});

for (const fault of ['no-gp', 'short-gp', 'early-qs', 'flush-outside'] as RcuFault[]) {
  test(`planted fault ${fault} is caught`, async () => {
    const rt = await Runtime.start({ cpus: 2, rcuCheck: true, inject: [fault] });
    try {
      await churn(rt, 8000, () => violations(rt) > 0);
      assert.ok(violations(rt) > 0, `${fault}: no violation seen`);
    } finally {
      await rt.stop();
    }
  });
}

test('the read-side check notes every record of a round, however many (a broadcast to many entries over several polls)', () => {
  /* a stand-in for a devmap: record r is valid unless it is 2500, never retired */
  const fake = {
    recGen: (r: number) => r,
    recValid: (r: number, gen: number) => r !== 2500 && gen === r,
    recState: () => 1,
    recRetired: () => 0,
  } as unknown as DevMap;
  const chk = new RcuCheck(new Int32Array(new SharedArrayBuffer(256)));
  for (let r = 0; r < 3000; r++) chk.note(fake, r);
  assert.equal(chk.validate(), 1);
  assert.equal(chk.checked, 3000);
  assert.deepEqual([...chk.pipeline], [2999, 0, 0, 1]);
  /* and it starts again empty */
  chk.note(fake, 7);
  assert.equal(chk.validate(), 0);
  assert.equal(chk.checked, 3001);
});
