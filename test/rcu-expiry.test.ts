/*
 * Grace-period expiry is monotonic (a CPU seen asleep once stays counted,
 * however it sleeps and wakes afterwards; an expired snapshot stays
 * expired), and a devmap writer never waits for a grace period: entries
 * replaced faster than grace periods end, while a CPU sits in one long
 * poll or the CPUs keep sleeping and waking, all succeed (no ENOMEM), and
 * their records come back through call_rcu once the grace periods end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BPF_MAP_TYPE_DEVMAP, devmapVal } from '../src/index.ts';
import { CC_QS, CC_SLEEPING, CC_WORDS, G_GP_DONE, G_WORDS } from '../src/shared/layout.ts';
import { RCU_QHIMARK, Rcu } from '../src/shared/rcu.ts';
import type { DevMap } from '../src/maps/devmap.ts';
import { fixture, withRuntime } from './helpers.ts';

test('expiry is monotonic: a CPU that sleeps, wakes and sleeps again counts from the first time it was seen asleep', () => {
  const cpuctl = new SharedArrayBuffer(4 * CC_WORDS * 2);
  const global = new SharedArrayBuffer(4 * G_WORDS);
  const cc = new Int32Array(cpuctl);
  const g = new Int32Array(global);
  const rcu = new Rcu(cpuctl, global, 2, new Set());
  const qs = (c: number): void => { cc[c * CC_WORDS + CC_QS]!++; };
  const asleep = (c: number, on: boolean): void => { cc[c * CC_WORDS + CC_SLEEPING] = on ? 1 : 0; };

  /* both CPUs inside a poll when the grace period starts */
  const snap = rcu.snapshot();
  assert.equal(rcu.expired(snap), false);
  /* CPU 1 goes to sleep (an extended quiescent state), and is seen asleep */
  asleep(1, true);
  assert.equal(rcu.expired(snap), false, 'CPU 0 is still in its poll');
  /* CPU 1 wakes and starts a poll without reporting a quiescent state yet */
  asleep(1, false);
  /* CPU 0 ends its poll: every CPU has been quiescent since the snapshot */
  qs(0);
  assert.equal(rcu.expired(snap), true, 'CPU 1 was seen asleep after the snapshot: its waking does not undo that');
  assert.equal(g[G_GP_DONE], snap.gp);
  /* and it stays expired, whatever the CPUs do next */
  asleep(1, true);
  asleep(1, false);
  assert.equal(rcu.expired(snap), true);

  /* a CPU asleep when the grace period starts counts at once, even if it wakes before the first check */
  asleep(0, true);
  const snap2 = rcu.snapshot();
  asleep(0, false);
  assert.equal(rcu.expired(snap2), false, 'CPU 1 has not been quiescent since');
  qs(1);
  assert.equal(rcu.expired(snap2), true);

  /* call_rcu past RCU_QHIMARK: call() itself runs the callbacks whose grace period is over, in order */
  const ran: number[] = [];
  for (let i = 0; i < RCU_QHIMARK; i++) rcu.call(() => ran.push(i));
  assert.equal(ran.length, 0, 'no CPU has passed a quiescent state');
  qs(0);
  qs(1);
  rcu.call(() => ran.push(RCU_QHIMARK));
  assert.equal(ran.length, RCU_QHIMARK, 'the callbacks queued before the quiescent states ran, in order');
  assert.deepEqual(ran.slice(0, 3), [0, 1, 2]);
  assert.equal(rcu.stats().callbacksPending, 1);
});

test('a devmap writer never waits for a grace period: updates while a CPU sits in one long poll, and while CPUs sleep and wake', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [a, b] = rt.createVeth('rxa', 'rxb', { rxQueues: 2, cpus: [0, 1] });
    const m = rt.createMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 8, maxEntries: 4, name: 'churn' });
    const dm = m.map as unknown as DevMap;
    /* records ever handed out (the slab's header word H_FRESH) */
    const fresh = (): number => dm.a[3]!;

    /* CPU 1 stays inside one poll until the test lets it go: no grace period can end meanwhile */
    const [busy] = rt.createVeth('rxs', 'rxsp', { rxQueues: 1, cpus: [1] });
    const holder = await rt.loadObject(fixture('prog-hold.ts'));
    busy.attachXdp(holder.progs.hold_poll!);
    const polls1 = rt.stats().cpus[1]!.polls;
    await busy.inject({ count: 1 });
    while (rt.stats().cpus[1]!.polls === polls1) await sleep(1);
    const qs1 = rt.stats().cpus[1]!.qs;
    /* far more replacements than the old slab had records (2 * max_entries + 64), without yielding */
    const n = 5000;
    for (let i = 0; i < n; i++) m.update(i & 3, devmapVal(i & 1 ? a.ifindex : b.ifindex));
    assert.equal(rt.stats().cpus[1]!.qs, qs1, 'CPU 1 left its poll during the updates');
    assert.ok(fresh() >= n, `${fresh()} records for ${n} replacements`);
    assert.ok(rt.stats().rcu.callbacksPending >= n - 4);
    holder.maps.hold!.update(0, 1);
    /* once the poll ends the callbacks free the records, and the next update reuses one */
    await rt.rcuBarrier();
    assert.equal(rt.stats().rcu.callbacksPending, 0);
    const used = fresh();
    m.update(0, devmapVal(a.ifindex));
    assert.equal(fresh(), used, 'a freed record is reused');

    /* CPUs that keep sleeping and waking (small injections) while bursts of updates run: never ENOMEM */
    let running = true;
    const traffic = (async () => {
      /* an inject of 8 frames resolves in a microtask: yield to the event loop too, or this loop starves the writer's setImmediate for seconds */
      while (running) {
        await a.inject({ count: 8, flows: 64 });
        await new Promise((r) => setImmediate(r));
      }
    })();
    let ops = 0;
    const end = performance.now() + 1500;
    while (performance.now() < end) {
      for (let i = 0; i < 2000; i++, ops++) m.update(ops & 3, devmapVal(ops & 1 ? a.ifindex : b.ifindex));
      await new Promise((r) => setImmediate(r));
    }
    running = false;
    await traffic;
    assert.ok(rt.stats().cpus.every((c) => c.sleeps > 10), `sleeps: ${rt.stats().cpus.map((c) => c.sleeps)}`);
    assert.ok(ops > 4000, `${ops} updates`);
    /* the records came back as grace periods ended: far fewer were ever used than updates made */
    assert.ok(fresh() < used + ops / 2, `${fresh() - used} fresh records for ${ops} updates`);
    await rt.rcuBarrier();
  });
});
