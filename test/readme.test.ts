/* The README's library example (examples/readme.ts) runs and prints what the README says it does. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('examples/readme.ts', () => {
  const file = fileURLToPath(new URL('../examples/readme.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    sink_tx: 100_000, counted: 1000, passed: 1000, devmap_xmits: true, conserved: true, pool_full: true, tap_lost: [0, 0, 0, 0],
  });
});
