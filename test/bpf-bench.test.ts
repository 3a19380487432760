/*
 * xdpsim bench --prog FILE.o: the bench's modes with a clang-compiled
 * object's program on in0 (examples/bpf/xdp_bench.c, the built-in programs
 * in C): every frame accounted for, the program named in the summary, the
 * object's maps set up like the built-in's. No timing assertions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from '../src/bench/bench.ts';
import { BUILDS, EXAMPLES_BPF, buildSkip, fixture } from './objects.ts';

for (const build of BUILDS) for (const [mode, op] of [['drop', 'parse-ip'], ['tx', 'swap-macs'], ['redirect', 'no-touch'], ['redirect-map', 'swap-macs'], ['redirect-multi', 'no-touch']] as const) {
  test(`bench ${mode} -p ${op} --prog xdp_bench.o (${build}): the object's program, every frame accounted for`, { skip: buildSkip(build) }, async () => {
    const prog = fixture('xdp_bench', 'v3', [], EXAMPLES_BPF, build);
    const s = await runBench({ mode, op, cpus: 1, duration: 0.3, interval: 0, prog });
    const name = { drop: 'bench_drop_parse', tx: 'bench_tx_swap', redirect: 'bench_redirect', 'redirect-map': 'bench_redirect_map_swap', 'redirect-multi': 'bench_redirect_multi' }[mode];
    assert.equal(s.prog, `${name} (${prog})`);
    assert.equal(s.conserved, true);
    assert.equal(s.errors, 0);
    assert.deepEqual(s.errors_by_reason, {});
    assert.ok(s.generator.sent > 1000, `sent ${s.generator.sent}`);
    if (mode === 'drop') assert.equal(Math.round(s.drop_pps * s.duration_s), s.generator.sent);
    else assert.equal(Math.round(s.xmit_pps * s.duration_s), s.generator.sent * (mode === 'redirect-multi' ? 2 : 1));
  });
}
