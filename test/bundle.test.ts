/*
 * The CPU worker bundle (src/cpu/bundle.ts): the constant pass, the CPUs
 * running the bundle with program objects sharing it, and the sources path
 * (XDPSIM_BUNDLE=0) still working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { checkedConstify, constifyBundle, workerBundle } from '../src/cpu/bundle.ts';
import { XDP_DROP, devmapVal } from '../src/index.ts';
import { fixture, percpuSum, withRuntime } from './helpers.ts';

const bin = fileURLToPath(new URL('../bin/xdpsim.mjs', import.meta.url));

test('constifyBundle: upper-case constants of constant expressions become const, anything assigned or computed stays var', () => {
  const src = [
    'var A = 1;',
    'var B = A << 2 | 0x10;',
    'var C = 3;',
    'C = 4;',
    'var D = foo();',
    'var E = B + 1.5e3;',
    'var F = 0;',
    'F++;',
    'var G = 2;',
    'x.G = 3;',
    'var lower = 5;',
    'var H = D + 1;',
    'var I = 7;',
    'I |= 1;',
    'var J = 8;',
    '--J;',
    'var K = 9;',
    'if (K == 9 && K === 9 && K != 1) f();',
    'var REC_WORDS2 = 8;',
    '  var L = 1;',
  ].join('\n');
  const out = constifyBundle(src).split('\n');
  const kind = (name: string): string => out.find((l) => new RegExp(`^\\s*(var|const) ${name} =`).test(l))!.trim().split(' ')[0]!;
  assert.deepEqual(
    ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'lower', 'H', 'I', 'J', 'K', 'REC_WORDS2', 'L'].map(kind),
    ['const', 'const', 'var', 'var', 'const', 'var', 'const', 'var', 'var', 'var', 'var', 'const', 'const', 'var'],
  );
  /* nothing else changes */
  assert.equal(constifyBundle(src).replace(/^const /gm, 'var '), src);
});

test('checkedConstify: assignment forms the pattern misses are found by esbuild and stay var', () => {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const src = ['var A = 1;', 'A **= 2;', 'var B = 2;', '[B] = x;', 'var C = 3;', 'for (C of xs) f(C);', 'var D = 4;', '({ D } = o);', 'var E = 5;', 'E ??= 6;', 'var F = 6;', 'f(F);'].join('\n');
  const out = checkedConstify(src, esbuild).split('\n').filter((l) => /^(var|const) /.test(l)).map((l) => l.split(' ').slice(0, 2).join(' '));
  assert.deepEqual(out, ['var A', 'var B', 'var C', 'var D', 'var E', 'const F']);
});

test('the CPUs run the bundle, and a program object shares its helpers (a devmap redirect goes through)', async () => {
  const b = workerBundle();
  if (process.env.XDPSIM_BUNDLE === '0') {
    assert.equal(b, null);
    return;
  }
  assert.ok(b !== null, 'the bundle was built');
  await withRuntime({ cpus: 2 }, async (rt) => {
    assert.deepEqual(await rt.cpuCode(), [b.bundle, b.bundle]);
    const [in0] = rt.createVeth('bi', 'bip', { rxQueues: 1, cpus: [0] });
    const [out, peer] = rt.createVeth('bo', 'bp', { rxQueues: 1, cpus: [0] }, { rxQueues: 1, cpus: [1] });
    const obj = await rt.loadObject(fixture('prog-redirect.ts'));
    const counter = await rt.loadObject(fixture('prog-two.ts'));
    in0.attachXdp(obj.progs.xdp_redir!);
    peer.attachXdp(counter.progs.prog_a!);
    obj.maps.tx!.update(3, devmapVal(out.ifindex));
    for (const [k, v] of [[0, 0], [1, 3], [2, XDP_DROP]]) obj.maps.cfg!.update(k!, v!);
    await rt.setTracepoints(['xdp_redirect'], true);
    rt.clearTraceEvents();
    await in0.inject({ count: 20 });
    assert.equal(await rt.quiesce(), true);
    const e = rt.traceEvents('xdp_redirect');
    assert.equal(e.length, 20);
    assert.deepEqual([e[0]!.to_ifindex, e[0]!.map_id, e[0]!.map_index], [out.ifindex, obj.maps.tx!.id, 3]);
    assert.equal(in0.stats().xdp_redirect, 20);
    assert.equal(peer.stats().rx_packets, 20);
    assert.equal(percpuSum(counter.maps.counts!.lookupPerCpu(0)), 20);
  });
});

test('a program object importing another module of src/ is refused with an error that says what to import', async () => {
  if (process.env.XDPSIM_BUNDLE === '0') return;
  await withRuntime({ cpus: 1 }, async (rt) => {
    await assert.rejects(rt.loadObject(fixture('prog-direct-import.ts')), /prog-direct-import\.ts\S* imports .*src\/shared\/uapi\.ts directly; a program object imports from 'xdpsim'/);
    /* the runtime goes on: a well-formed object still loads */
    const obj = await rt.loadObject(fixture('prog-calls.ts'));
    assert.ok(obj.progs.call_pass !== undefined);
  });
});

test('XDPSIM_BUNDLE=0: the CPUs run the sources through tsx, and a bench run still conserves every frame', () => {
  const r = spawnSync(process.execPath, [bin, 'bench', 'redirect-map', '--duration', '0.5', '--interval', '0', '--json'], {
    encoding: 'utf8', env: { ...process.env, XDPSIM_BUNDLE: '0' }, timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { conserved: boolean; leaked_frames: number; redirect_pps: number; worker_code: string };
  assert.equal(j.conserved, true);
  assert.equal(j.leaked_frames, 0);
  assert.ok(j.redirect_pps > 0);
  assert.equal(j.worker_code, 'sources');
});
