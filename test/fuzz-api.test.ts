/*
 * The library API under bad input (issue 15, point 7): every failed call
 * throws an XdpsimError with a code, corrupts nothing, and the runtime goes
 * on: a seeded fuzz of hostile arguments to the runtime's and devices'
 * methods, then good traffic, then conservation. And the named defects:
 * inject({ size: 10 }) was a RangeError, attachXdp(undefined) a TypeError,
 * createVeth() after stop() succeeded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Runtime, XDP_PASS, XdpsimError } from '../src/index.ts';
import { fixture, withRuntime } from './helpers.ts';
import { prng } from '../src/shared/prng.ts';

const isX = (code: string) => (e: unknown): boolean => e instanceof XdpsimError && e.code === code && e.errno > 0;

test('the named defects: each failure is an XdpsimError with a code', async () => {
  const rt = await Runtime.start({ cpus: 1 });
  const [a] = rt.createVeth('da0', 'da1');
  await assert.rejects(a.inject({ size: 10 }), (e) => isX('EINVAL')(e) && /frame size 10: must be an integer in 42\.\.65535/.test((e as Error).message));
  assert.throws(() => a.attachXdp(undefined as never), (e) => isX('EBADF')(e) && /undefined is not a program/.test((e as Error).message));
  await assert.rejects(rt.loadObject('/nonexistent/prog.o'), isX('ENOENT'));
  await assert.rejects(a.inject({ srcPort: -1 }), (e) => isX('EINVAL')(e) && /srcPort -1 must be an integer in 0\.\.65535/.test((e as Error).message));
  const st = await rt.stop();
  assert.equal(st.conserved, true);
  assert.throws(() => rt.createVeth('late0', 'late1'), isX('ESRCH'));
  assert.throws(() => rt.createSink('late2'), isX('ESRCH'));
  assert.throws(() => a.attachXdp(null as never), isX('ESRCH'));
  assert.throws(() => rt.callRcu(() => {}), isX('ESRCH'));
  await assert.rejects(a.inject({}), isX('ESRCH'));
});

function desc(v: unknown): string {
  try {
    return typeof v === 'symbol' ? 'Symbol' : typeof v === 'bigint' ? `${v}n` : Array.isArray(v) ? `[${v.length}]` : String(v).slice(0, 24);
  } catch {
    return 'a hostile value';
  }
}

const HOSTILE: unknown[] = [
  undefined, null, 0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 32, 2 ** 53 + 1, -(2 ** 31) - 1, 1n, '', 'x', '0', ' 1', 'in0', 'ff:ff',
  '10.0.0.256', true, false, [], [1, 2], {}, { count: -1 }, Symbol('s'), () => 1, new Uint8Array(3), new Uint8Array(0), Object.create(null),
  new Proxy({}, { get() { throw new Error('trap'); } }),
];

test('a seeded fuzz of hostile arguments: XdpsimError or success, never another error; the runtime goes on', async () => {
  const seed = Number(process.env.XDPSIM_FUZZ_SEED ?? 0x15a7);
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0] = rt.createVeth('fz0', 'fz1', { rxQueues: 2 });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_PASS);
    const calls: Array<[string, (x: unknown, y: unknown) => unknown]> = [
      ['inject', (x) => v0.inject(x as never)],
      ['inject field', (x, y) => v0.inject({ count: 4, [pick(['size', 'flows', 'queue', 'srcIp', 'dstIp', 'srcMac', 'dstMac', 'srcPort', 'dstPort', 'packet', 'frags', 'count'])]: x, dropWhenFull: y } as never)],
      ['attachXdp', (x, y) => v0.attachXdp(x as never, y as never)],
      ['setMtu', (x) => v0.setMtu(x as never)],
      ['onPass', (x) => v0.onPass(x as never)],
      ['generate', (x) => v0.generate(x as never).then((g) => g.stop())],
      ['createVeth', (x, y) => rt.createVeth(x as never, y as never)],
      ['createVeth options', (x) => rt.createVeth('fo0', 'fo1', x as never)],
      ['createSink', (x, y) => rt.createSink(x as never, y as never)],
      ['createMap', (x) => rt.createMap(x as never)],
      ['createMap field', (x) => rt.createMap({ type: 2, keySize: 4, valueSize: 4, maxEntries: 4, [pick(['type', 'keySize', 'valueSize', 'maxEntries', 'mapFlags', 'name'])]: x } as never)],
      ['loadObject', (x) => rt.loadObject(x as never)],
      ['device', (x) => rt.device(x as never)],
      ['deleteDevice', (x) => rt.deleteDevice(x as never)],
      ['setTraceFilter', (x) => rt.setTraceFilter(x as never)],
      ['setTraceFilter field', (x) => rt.setTraceFilter({ [pick(['events', 'ifindex', 'err', 'colour'])]: x } as never)],
      ['setTracepoints', (x, y) => rt.setTracepoints(x as never, y as never)],
      ['startCapture', (x, y) => rt.startCapture(x as never, y as never)],
      ['xskSocket', (x) => rt.xskSocket(x as never)],
      ['callRcu', (x) => rt.callRcu(x as never)],
      ['unloadObject', (x) => rt.unloadObject(x as never)],
      ['quiesce', (x) => rt.quiesce(x as never)],
      ['map update', (x, y) => obj.maps.seen!.update(x as never, y as never)],
      ['map lookup', (x) => obj.maps.seen!.lookup(x as never)],
      ['map delete', (x) => obj.maps.seen!.delete(x as never)],
    ];
    const end = performance.now() + 3000;
    let n = 0;
    const failures: string[] = [];
    while (performance.now() < end && n < 5000) {
      const [name, f] = pick(calls);
      const x = pick(HOSTILE);
      const y = pick(HOSTILE);
      n++;
      if (process.env.FZ_DEBUG) process.stderr.write(`${n} ${name} ${desc(x)} ${desc(y)}\n`);
      try {
        const r = f(x, y);
        if (r instanceof Promise) await r;
      } catch (e) {
        if (!(e instanceof XdpsimError) || typeof e.code !== 'string' || !(e.errno > 0)) {
          let what: string;
          try { what = `${(e as Error)?.name}: ${(e as Error)?.message}`; } catch { what = 'undescribable'; }
          failures.push(`seed ${seed} call ${n} ${name}(${desc(x)}, ${desc(y)}): ${what}`);
        }
      }
      /* a device the fuzz deleted or a program it attached: put the scene back */
      if (v0.deleted) break;
    }
    assert.deepEqual(failures.slice(0, 10), []);
    assert.ok(n > 100, `only ${n} calls`);
    /* good input still works: pass traffic on a fresh device, no CPU died */
    const [g0] = rt.createVeth('good0', 'good1', { rxQueues: 2 });
    g0.attachXdp(obj.progs.verdict!);
    obj.maps.config!.update(0, XDP_PASS);
    await g0.inject({ count: 100, flows: 8 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(g0.stats().xdp_pass, 100);
    const st = await rt.stop();
    assert.ok(st.cpus.every((c) => c.dead === null));
    assert.equal(st.conserved, true);
    assert.equal(st.pool.free, st.pool.frames);
  });
});
