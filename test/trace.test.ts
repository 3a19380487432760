/*
 * Trace records: per-CPU rings drained by the main thread into
 * { cpu, ts, event, ...fields } in the kernel's field order, switchable per
 * tracepoint at run time, and written to a pino logger as JSON lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { XDP_ABORTED, XDP_TX } from '../src/index.ts';
import { fixture, withRuntime } from './helpers.ts';

test('tracepoints: fields, on/off at run time, pino JSON lines', async () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
  const logger = pino({ base: null, timestamp: false }, sink);
  await withRuntime({ cpus: 2, logger }, async (rt) => {
    const [v0] = rt.createVeth('tra', 'trb', { rxQueues: 1, cpus: [1] });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_ABORTED);
    v0.attachXdp(obj.progs.verdict!);
    await v0.inject({ count: 5 });
    assert.equal(await rt.quiesce(), true);
    const ex = rt.traceEvents('xdp_exception');
    assert.equal(ex.length, 5);
    assert.deepEqual(Object.keys(ex[0]!), ['cpu', 'ts', 'event', 'prog_id', 'act', 'act_name', 'ifindex']);
    assert.equal(ex[0]!.cpu, 1);
    assert.equal(ex[0]!.act_name, 'XDP_ABORTED');
    assert.ok(typeof ex[0]!.ts === 'number' && ex[0]!.ts > 0);
    for (let i = 1; i < 5; i++) assert.ok((ex[i]!.ts as number) >= (ex[i - 1]!.ts as number));

    await rt.setTracepoints(['xdp_exception'], false);
    await v0.inject({ count: 5 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(rt.traceEvents('xdp_exception').length, 5);
    assert.equal(v0.stats().xdp_aborted, 10);
    await rt.setTracepoints('all', true);
    obj.maps.config!.update(0, XDP_TX);
    await v0.inject({ count: 3 });
    assert.equal(await rt.quiesce(), true);
    const bulk = rt.traceEvents('xdp_bulk_tx');
    assert.equal(bulk.length, 1);
    assert.deepEqual(Object.keys(bulk[0]!), ['cpu', 'ts', 'event', 'ifindex', 'act', 'act_name', 'drops', 'sent', 'err']);
    await assert.rejects(() => rt.setTracepoints(['xdp_nope' as 'xdp_exception'], true), { code: 'EINVAL' });
  });
  const json = lines.map((l) => JSON.parse(l));
  assert.equal(json.filter((j) => j.event === 'xdp_exception').length, 5);
  assert.equal(json.filter((j) => j.event === 'xdp_bulk_tx').length, 1);
  assert.equal(json[0].level, 30);
  assert.equal(json[0].prog_id > 0, true);
});
