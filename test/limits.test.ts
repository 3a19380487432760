/*
 * Tables sized from the options (issue 15, point 8): `demo --scenario
 * redirect --cpus 16` needs 7 devices of 16 RX queues; the default
 * maxRxQueues grows with the CPUs, and when a table is full the error says
 * which option to raise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdpsimError } from '../src/index.ts';
import { withRuntime } from './helpers.ts';

test('16 CPUs: devices with a queue on every CPU fit the default tables; a full table names its option', async () => {
  await withRuntime({ cpus: 16 }, async (rt) => {
    assert.equal(rt.limits.maxRxQueues, 256);
    const all = Array.from({ length: 16 }, (_, c) => c);
    for (let i = 0; i < 7; i++) rt.createVeth(`lq${i}`, `lp${i}`, { rxQueues: 16, cpus: all }, { rxQueues: 1 });
    assert.equal(rt.listDevices().length, 15);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
  });
  await withRuntime({ cpus: 2, maxRxQueues: 4 }, async (rt) => {
    assert.throws(() => rt.createVeth('fa', 'fb', { rxQueues: 2 }, { rxQueues: 2 }),
      (e) => e instanceof XdpsimError && e.code === 'ENOSPC' && /maxRxQueues 4: raise it with Runtime\.start\(\{ maxRxQueues \}\)/.test(e.message));
  });
});
