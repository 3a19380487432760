/*
 * Tables sized from the options (issue 15, point 8): `demo --scenario
 * redirect --cpus 16` needs 7 devices of 16 RX queues (ENOSPC with the old
 * fixed 128); the default maxRxQueues grows with the CPUs, and when a table
 * is full the error says which option to raise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdpsimError } from '../src/index.ts';
import { withRuntime } from './helpers.ts';

test('9 CPUs: 15 devices with a queue on every CPU fit the default tables (135 queues, past the old 128); a full table names its option', async () => {
  await withRuntime({ cpus: 9 }, async (rt) => {
    assert.equal(rt.limits.maxRxQueues, 144);
    const all = Array.from({ length: 9 }, (_, c) => c);
    /* lo has one queue: 15 devices of 9 queues take 135 more */
    for (let i = 0; i < 15; i++) rt.createSink(`lq${i}`, { rxQueues: 9, cpus: all });
    assert.equal(rt.listDevices().length, 16);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
  });
  await withRuntime({ cpus: 2, maxRxQueues: 4 }, async (rt) => {
    assert.throws(() => rt.createVeth('fa', 'fb', { rxQueues: 2 }, { rxQueues: 2 }),
      (e) => e instanceof XdpsimError && e.code === 'ENOSPC' && /maxRxQueues 4: raise it with Runtime\.start\(\{ maxRxQueues \}\)/.test(e.message));
  });
});
