/*
 * The conformance corpus (conformance/cases.ts), xdpsim half: every case's
 * C program compiled with clang, run in xdpsim with the case's topology and
 * frames, and compared with what the real kernel did
 * (conformance/expected/NAME.json, recorded by `npm run conformance --
 * --record`): verdicts, the frames each device delivered byte for byte, map
 * contents, and the xdp:* records. A case marked as a known difference
 * passes while it differs (the diff is printed) and fails once it does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES } from '../conformance/cases.ts';
import { CORPUS_DIR, compileCorpus, toolVersion } from '../conformance/compile.ts';
import { normalize } from '../conformance/result.ts';
import { runSim } from '../conformance/sim.ts';
import { judge, loadExpected } from '../conformance/suite.ts';

/* XDPSIM_CONFORMANCE_TWINS=1: the TypeScript twins (conformance/corpus/ts/) instead of the objects */
const twins = process.env.XDPSIM_CONFORMANCE_TWINS === '1';

test('conformance corpus: xdpsim matches the kernel', { timeout: 180_000 }, async (t) => {
  let objects = new Map<string, string>();
  if (!twins) {
    assert.ok(toolVersion('clang') !== null,
      'clang is not installed: the conformance corpus (conformance/corpus/*.c) cannot be compiled; install clang and libbpf-dev (.ci/run does)');
    const work = mkdtempSync(join(tmpdir(), 'xdpconf-test-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    objects = compileCorpus(CASES.map((c) => c.source), work);
  }
  for (const c of CASES) {
    await t.test(c.name, async (tc) => {
      const rec = loadExpected(c.name);
      assert.ok(rec !== null, `${c.name}: no recording in conformance/expected/ (npm run conformance -- --record --case ${c.name})`);
      const obj = twins ? join(CORPUS_DIR, 'ts', `${c.source}.ts`) : objects.get(c.source)!;
      const res = normalize(await runSim(c, obj), c.ifindexKeys);
      const v = judge(c, res, rec.result);
      if (v.status === 'known') {
        tc.diagnostic(`known difference: ${c.knownDifference}`);
        for (const l of v.diff) tc.diagnostic(`  ${l}`);
        return;
      }
      assert.notEqual(v.status, 'fixed', `${c.name} is marked as a known difference (${c.knownDifference}) but xdpsim now matches the kernel: remove the mark`);
      assert.deepEqual(v.diff, [], `${c.name} (${c.title}): xdpsim differs from the kernel (recorded on ${rec.recorded.kernel}):\n  ${v.diff.join('\n  ')}`);
    });
  }
});
