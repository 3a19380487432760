/*
 * The traffic source: concurrent injections each reach their own device,
 * stop() during an injection ends it and still conserves every frame,
 * dropWhenFull drops with FULL_RING, a down device refuses injection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ENETDOWN, Runtime, XDP_DROP } from '../src/index.ts';
import { fixture } from './helpers.ts';

test('two injections at once each reach their own device', async () => {
  const rt = await Runtime.start({ cpus: 2 });
  try {
    const [a] = rt.createVeth('sia', 'siap', { rxQueues: 2 });
    const [b] = rt.createVeth('sib', 'sibp', { rxQueues: 2 });
    const [r1, r2] = await Promise.all([a.inject({ count: 20_000, flows: 16 }), b.inject({ count: 13_000, flows: 16 })]);
    assert.deepEqual([r1.sent, r2.sent], [20_000, 13_000]);
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual([a.stats().rx_packets, b.stats().rx_packets], [20_000, 13_000]);
  } finally {
    await rt.stop();
  }
});

test('stop() during an injection: the injection ends, frames are conserved, the pool is full', async () => {
  const rt = await Runtime.start({ cpus: 2 });
  const [a] = rt.createVeth('ssa', 'ssap', { rxQueues: 2 });
  const obj = await rt.loadObject(fixture('prog-verdict.ts'));
  obj.maps.config!.update(0, XDP_DROP);
  a.attachXdp(obj.progs.verdict!);
  const sending = a.inject({ count: 10_000_000, flows: 16 });
  await new Promise((r) => setTimeout(r, 50));
  const st = await rt.stop();
  const res = await sending;
  assert.ok(res.sent > 0 && res.sent < 10_000_000);
  assert.equal(st.totals.injected, res.sent);
  assert.equal(st.conserved, true);
  assert.equal(st.pool.free, st.pool.frames);
});

test('dropWhenFull: a full RX ring drops with FULL_RING; a down device refuses', async () => {
  const rt = await Runtime.start({ cpus: 1 });
  try {
    /* a sink with one 8-slot RX queue: injecting 64 at once must overflow it */
    const sink = rt.createSink('sfull', { rxQueues: 1, ringSize: 8 });
    const r = await sink.inject({ count: 64, dropWhenFull: true });
    assert.equal(r.sent + r.dropped, 64);
    assert.ok(r.dropped >= 64 - 8, `dropped ${r.dropped}`);
    assert.equal(await rt.quiesce(), true);
    const s = sink.stats();
    assert.equal(s.dropReasons.FULL_RING, r.dropped);
    assert.equal(s.rx_packets, r.sent);
    assert.equal(s.stack, r.sent);
    assert.equal(s.injected, 64);
    sink.down();
    await assert.rejects(() => sink.inject({ count: 1 }), { errno: ENETDOWN });
    const st = await rt.stop();
    assert.equal(st.conserved, true);
  } finally {
    await rt.stop();
  }
});

test('a process that stops mid-injection exits by itself', () => {
  const code = `
    import { Runtime } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};
    const rt = await Runtime.start({ cpus: 2 });
    const [a] = rt.createVeth('x', 'y', { rxQueues: 2 });
    const p = a.inject({ count: 1e9 });
    await new Promise((r) => setTimeout(r, 30));
    const s = await rt.stop();
    await p;
    console.log(s.conserved);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'true');
});
