/*
 * The conformance corpus (conformance/cases.ts), xdpsim half: every case's
 * C program (its committed object, conformance/corpus/obj/NAME.v3.o, and
 * where clang is installed the object rebuilt from the source; see
 * test/objects.ts), run in xdpsim with the case's topology and
 * frames, and compared with what the real kernel did
 * (conformance/expected/NAME.json, recorded by `npm run conformance --
 * --record`): verdicts, the frames each device delivered byte for byte, map
 * contents, and the xdp:* records. A case marked as a known difference
 * passes while it differs (the diff is printed) and fails once it does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CASES } from '../conformance/cases.ts';
import { CORPUS_DIR } from '../conformance/compile.ts';
import { diffResults, normalize, type CaseResult } from '../conformance/result.ts';
import { runSim } from '../conformance/sim.ts';
import { judge, loadExpected } from '../conformance/suite.ts';
import { BUILDS, CONFORMANCE_CORPUS, buildSkip, fixture, type Build } from './objects.ts';

/* XDPSIM_CONFORMANCE_TWINS=1: the TypeScript twins (conformance/corpus/ts/) instead of the objects */
const twins = process.env.XDPSIM_CONFORMANCE_TWINS === '1';

const runs: (Build | 'twins')[] = twins ? ['twins'] : [...BUILDS];
for (const run of runs) test(`conformance corpus: xdpsim matches the kernel (${run === 'twins' ? 'the TypeScript twins' : `${run} objects`})`, { timeout: 180_000, skip: run === 'twins' ? false : buildSkip(run) }, async (t) => {
  for (const c of CASES) {
    await t.test(c.name, async (tc) => {
      const rec = loadExpected(c.name);
      assert.ok(rec !== null, `${c.name}: no recording in conformance/expected/ (npm run conformance -- --record --case ${c.name})`);
      const obj = run === 'twins' ? join(CORPUS_DIR, 'ts', `${c.source}.ts`) : fixture(c.source, 'v3', [], CONFORMANCE_CORPUS, run);
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

test('conformance diff: one readable line per difference', () => {
  const kernel: CaseResult = {
    load: 'ok', setup: [], delivered: { out0p: ['0102030405', 'aabb'] },
    maps: { tx: ['1: out0', '2: out1'], verdicts: ['XDP_REDIRECT: 2'] },
    trace: {
      xdp_redirect_err: { 'in0 -> out0 map=tx index=1 prog=p err=-100 ENETDOWN': '2' },
      xdp_devmap_xmit: { 'in0 -> out1 err=0': 'events=1 sent=1 drops=0' },
    },
  };
  const xdpsim: CaseResult = {
    load: 'ok', setup: ['update tx key 2: EINVAL'], delivered: { out0p: ['0102030405', 'aacc'], in0: ['00'] },
    maps: { tx: ['2: out1', '1: out0'], verdicts: ['XDP_REDIRECT: 1', 'XDP_PASS: 1'] },
    trace: {
      xdp_redirect_err: { 'in0 -> out0 map=tx index=1 prog=p err=-100 ENETDOWN': '1' },
      xdp_devmap_xmit: { 'in0 -> out1 err=0': 'events=1 sent=0 drops=1' },
    },
  };
  assert.deepEqual(diffResults(kernel, xdpsim, 'kernel', 'xdpsim'), [
    'setup: only xdpsim: update tx key 2: EINVAL',
    'delivered on in0: kernel no frames, xdpsim 1 frame (1 bytes)',
    'delivered on out0p, frame 1: kernel 2 bytes, xdpsim 2 bytes; first difference at byte 1:',
    '    kernel bb',
    '    xdpsim cc',
    'map tx: same entries, other order: kernel [1: out0, 2: out1], xdpsim [2: out1, 1: out0]',
    'map verdicts: only kernel: XDP_REDIRECT: 2',
    'map verdicts: only xdpsim: XDP_REDIRECT: 1',
    'map verdicts: only xdpsim: XDP_PASS: 1',
    'trace xdp_redirect_err in0 -> out0 map=tx index=1 prog=p err=-100 ENETDOWN: kernel 2, xdpsim 1',
    'trace xdp_devmap_xmit in0 -> out1 err=0: kernel events=1 sent=1 drops=0, xdpsim events=1 sent=0 drops=1',
  ]);
  assert.deepEqual(diffResults(kernel, kernel, 'kernel', 'xdpsim'), []);
});
