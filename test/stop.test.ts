/*
 * stop(): drains, joins the workers, purges what is left in rings (counted
 * as SHUTDOWN drops), leaves the frame pool full, and leaves no handle
 * open: a process that never calls process.exit() ends by itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fixture, withRuntime } from './helpers.ts';

test('a process that stops its runtime exits by itself', () => {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', fixture('exit-by-itself.ts')], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.signal, null);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { conserved: true, free: 4 * 4096, frames: 4 * 4096, drops: 5000 });
  assert.ok(performance.now() - t0 < 30_000);
});

test('stop() with frames still queued: they are purged as SHUTDOWN drops and conserved', async () => {
  await withRuntime({ cpus: 2, drainTimeoutMs: 200 }, async (rt) => {
    const [v0, v1] = rt.createVeth('sa', 'sb', { rxQueues: 1, cpus: [0] }, { rxQueues: 1, cpus: [1] });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    /* XDP_TX on both ends: frames bounce between the two forever */
    obj.maps.config!.update(0, 3);
    v0.attachXdp(obj.progs.verdict!);
    v1.attachXdp(obj.progs.verdict!);
    await v0.inject({ count: 100 });
    assert.equal(await rt.quiesce(300), false);
    const s = await rt.stop();
    assert.equal(s.conserved, true);
    assert.equal(s.pool.free, s.pool.frames);
    assert.equal(s.totals.injected, 100);
    /* all 100 were still bouncing: each ends as a drop (SHUTDOWN, or on its way to a stopped peer) */
    assert.equal(s.totals.dropped, 100);
    assert.equal(s.totals.dropReasons.SHUTDOWN + s.totals.dropReasons.XDP_TX_ERR, 100);
    assert.ok(s.totals.dropReasons.SHUTDOWN > 0);
    await assert.rejects(() => v0.inject({ count: 1 }), { code: 'ESRCH' });
  });
});
