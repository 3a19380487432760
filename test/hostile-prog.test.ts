/*
 * Hostile TypeScript programs (issue 15, point 1): whatever a program
 * throws or returns, the frame is XDP_ABORTED with an xdp_exception and
 * the CPU carries on; a program that allocates without bound costs its
 * CPU (out of memory: the CPU is marked dead, its frames count as
 * CPU_DEAD drops, stats() says which CPU and why), never the process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XDP_ABORTED, XDP_PASS } from '../src/index.ts';
import { VALUES } from './fixtures/prog-hostile.ts';
import { fixture, withRuntime } from './helpers.ts';
import { prng } from '../src/shared/prng.ts';

const CASES: Array<[number, string, RegExp]> = [
  [1, 'throw Object.create(null)', /threw \[object Object\]/],
  [2, 'an object whose message getter throws', /threw \[object Object\]/],
  [3, 'a Proxy whose every trap throws', /threw a value that cannot be described/],
  [4, 'a Symbol', /threw Symbol\(hostile\)/],
  [5, 'a verdict whose valueOf throws', /valueOf/],
  [6, 'ctx.data set to an object whose valueOf throws', /data/],
  [7, 'a BigInt verdict', /BigInt/],
  [9, 'an error with a 1 MiB message', /^prog \d+ on ifindex \d+: x+$/],
  [10, 'throw undefined', /threw undefined/],
];

test('every value a program can throw or return costs only its frame', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0] = rt.createVeth('ha', 'hb', { rxQueues: 2 });
    const obj = await rt.loadObject(fixture('prog-hostile.ts'));
    v0.attachXdp(obj.progs.hostile!);
    let exceptions = 0;
    for (const [mode, what, note] of CASES) {
      obj.maps.config!.update(0, mode);
      rt.clearTraceEvents();
      await v0.inject({ count: 64, flows: 8 });
      assert.equal(await rt.quiesce(), true, what);
      rt.collect();
      exceptions += 64;
      const s = v0.stats();
      assert.equal(s.xdp_exception, exceptions, what);
      assert.equal(s.dropReasons.XDP_EXCEPTION, exceptions, what);
      const ex = rt.traceEvents('xdp_exception');
      assert.equal(ex.length, 64, what);
      assert.ok(ex.every((e) => e.act === XDP_ABORTED && e.prog_id === obj.progs.hostile!.id), what);
      const st = rt.stats();
      const notes = st.cpus.map((c) => c.last_exception).filter((m) => m !== '');
      assert.ok(notes.length > 0 && notes.every((m) => note.test(m) || m.length <= 512), `${what}: ${notes.join(' | ').slice(0, 300)}`);
      assert.ok(notes.some((m) => note.test(m.slice(0, 300)) || note.test(m)), `${what}: ${notes.join(' | ').slice(0, 300)}`);
      assert.ok(st.cpus.every((c) => c.dead === null), what);
    }
    /* both CPUs are alive: the same queues pass traffic */
    obj.maps.config!.update(0, XDP_PASS + 100);
    await v0.inject({ count: 200, flows: 8 });
    assert.equal(await rt.quiesce(), true);
    const s = v0.stats();
    assert.equal(s.xdp_pass, 200);
    assert.ok(s.perCpu[0]!.xdp_pass > 0 && s.perCpu[1]!.xdp_pass > 0);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
  });
});

test('a program that allocates without bound costs its CPU, reported, never the process', async () => {
  await withRuntime({ cpus: 2, cpuHeapMb: 64 }, async (rt) => {
    const died: Array<[number, string]> = [];
    rt.on('cpu-error', (cpu: number, err: Error) => died.push([cpu, err.message]));
    /* a device on each CPU: a0 on CPU 0 runs the hostile program, b0 on CPU 1 the same program passing */
    const [a0] = rt.createVeth('oa0', 'oa1', { rxQueues: 1, cpus: [0] });
    const [b0] = rt.createVeth('ob0', 'ob1', { rxQueues: 1, cpus: [1] });
    const bad = await rt.loadObject(fixture('prog-hostile.ts'));
    const good = await rt.loadObject(fixture('prog-hostile.ts'));
    good.maps.config!.update(0, 100);
    a0.attachXdp(bad.progs.hostile!);
    b0.attachXdp(good.progs.hostile!);
    bad.maps.config!.update(0, 8);
    await a0.inject({ count: 32 });
    const end = Date.now() + 30_000;
    while (rt.stats().cpus[0]!.dead === null && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const st = rt.stats();
    assert.match(st.cpus[0]!.dead ?? '', /out of memory/);
    assert.equal(st.cpus[1]!.dead, null);
    assert.equal(died.length, 1);
    assert.equal(died[0]![0], 0);
    /* frames sent to the dead CPU's queue are dropped, counted with the reason */
    await a0.inject({ count: 50 });
    /* the other CPU carries on */
    await b0.inject({ count: 100 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(b0.stats().xdp_pass, 100);
    /* grace periods go on without the dead CPU: a map update that waits for one completes */
    await rt.rcu.synchronize();
    const fin = await rt.stop();
    const a = fin.devices.find((d) => d.name === 'oa0')!;
    assert.equal(a.injected, 82);
    assert.equal(a.dropReasons.CPU_DEAD, 82);
    assert.equal(fin.conserved, true);
    assert.equal(fin.pool.free, fin.pool.frames);
    assert.match(fin.cpus[0]!.dead ?? '', /out of memory/);
  });
});

test('a program that never returns costs its CPU after lockupMs (the soft-lockup watchdog), never the process', async () => {
  await withRuntime({ cpus: 2, lockupMs: 300 }, async (rt) => {
    const died: number[] = [];
    rt.on('cpu-error', (cpu: number) => died.push(cpu));
    const [a0] = rt.createVeth('la0', 'la1', { rxQueues: 1, cpus: [1] });
    const [b0] = rt.createVeth('lb0', 'lb1', { rxQueues: 1, cpus: [0] });
    const bad = await rt.loadObject(fixture('prog-hostile.ts'));
    const good = await rt.loadObject(fixture('prog-hostile.ts'));
    good.maps.config!.update(0, 100);
    a0.attachXdp(bad.progs.hostile!);
    b0.attachXdp(good.progs.hostile!);
    bad.maps.config!.update(0, 11);
    await a0.inject({ count: 10 });
    const end = Date.now() + 30_000;
    while (rt.stats().cpus[1]!.dead === null && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.match(rt.stats().cpus[1]!.dead ?? '', /stuck in a program: its loop made no round for \d+ ms \(soft lockup, lockupMs 300\)/);
    assert.deepEqual(died, [1]);
    await b0.inject({ count: 100 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(b0.stats().xdp_pass, 100);
    const fin = await rt.stop();
    assert.equal(fin.devices.find((d) => d.name === 'la0')!.dropReasons.CPU_DEAD, 10);
    assert.equal(fin.conserved, true);
    assert.equal(fin.pool.free, fin.pool.frames);
  });
});

/* what the CPU makes of VALUES[i] as a verdict: the u32 of its number, or an exception (-1) when converting it throws */
function verdictOf(v: unknown): number {
  try {
    return (v as number) >>> 0;
  } catch {
    return -1;
  }
}

test('a seeded fuzz of hostile throws and verdicts: every frame counted where its verdict says, no CPU lost, conserved', async () => {
  const seed = Number(process.env.XDPSIM_FUZZ_SEED ?? 0x1501);
  const rnd = prng(seed);
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0, v1] = rt.createVeth('hf0', 'hf1', { rxQueues: 2 });
    /* the peer passes what XDP_TX sends it */
    const pass = await rt.loadObject(fixture('prog-hostile.ts'));
    pass.maps.config!.update(0, 100);
    v1.attachXdp(pass.progs.hostile!);
    const obj = await rt.loadObject(fixture('prog-hostile.ts'));
    v0.attachXdp(obj.progs.hostile!);
    const want = { exception: 0, aborted: 0, drop: 0, pass: 0, tx: 0, redirect: 0, invalid: 0 };
    const end = performance.now() + 2500;
    let batches = 0;
    while (performance.now() < end) {
      const modes = [1, 2, 3, 4, 5, 6, 7, 9, 10, 12];
      const mode = modes[Math.floor(rnd() * modes.length)]!;
      const idx = Math.floor(rnd() * VALUES.length);
      obj.maps.config!.update(0, mode);
      obj.maps.config!.update(1, idx);
      const n = 1 + Math.floor(rnd() * 32);
      await v0.inject({ count: n, flows: 4 });
      assert.equal(await rt.quiesce(), true, `seed ${seed} batch ${batches}`);
      const act = mode === 12 ? verdictOf(VALUES[idx]) : -1;
      if (act === -1) want.exception += n;
      else if (act === 0) want.aborted += n;
      else if (act === 1) want.drop += n;
      else if (act === 2) want.pass += n;
      else if (act === 3) want.tx += n;
      else if (act === 4) want.redirect += n;
      else want.invalid += n;
      batches++;
      const s = v0.stats();
      assert.deepEqual({ exception: s.xdp_exception, aborted: s.xdp_aborted, drop: s.xdp_drop, pass: s.xdp_pass, tx: s.xdp_tx, redirect: s.xdp_redirect, invalid: s.xdp_invalid }, want,
        `seed ${seed} batch ${batches}: mode ${mode} value ${idx}`);
      assert.ok(rt.stats().cpus.every((c) => c.dead === null), `seed ${seed} batch ${batches}`);
    }
    assert.ok(batches > 10, `only ${batches} batches`);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
  });
});
