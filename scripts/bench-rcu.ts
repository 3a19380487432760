/*
 * The cost of RCU, measured in one run: redirect throughput (DEVMAP to two
 * sinks, examples/xdp_redirect_flows.ts) with the RCU bookkeeping compiled
 * out (rcu: false), on, and on with the read-side check; and grace-period
 * latency (p50, p99) under full load, timed by synchronizeRcu() while the
 * traffic runs. Not a test: numbers vary with the machine; run it twice.
 *
 *   node --import tsx scripts/bench-rcu.ts [--cpus 2] [--seconds 3]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Runtime, type RuntimeOptions } from '../src/index.ts';

const { values } = parseArgs({ options: { cpus: { type: 'string', default: '2' }, seconds: { type: 'string', default: '3' } } });
const cpus = Number(values.cpus);
const seconds = Number(values.seconds);
const ex = (f: string): string => fileURLToPath(new URL(`../examples/${f}`, import.meta.url));

async function run(label: string, o: RuntimeOptions, measureGp: boolean): Promise<number> {
  const rt = await Runtime.start({ cpus, ...o });
  const [v0] = rt.createVeth('veth0', 'veth1', { rxQueues: cpus });
  const obj = await rt.loadObject(ex('xdp_redirect_flows.ts'));
  obj.maps.cfg!.update(0, 2);
  for (let i = 0; i < 2; i++) obj.maps.tx_ports!.update(i, rt.createSink(`sink${i}`).ifindex);
  v0.attachXdp(obj.progs.xdp_redirect_flows!);
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  const traffic = (async () => { while (performance.now() < until) await v0.inject({ count: 4096, flows: 64 }); })();
  const lat: number[] = [];
  if (measureGp) {
    while (performance.now() < until) {
      const a = performance.now();
      await rt.synchronizeRcu();
      lat.push((performance.now() - a) * 1000);
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  await traffic;
  await rt.quiesce();
  const dt = (performance.now() - t0) / 1000;
  const s = await rt.stop();
  const pps = s.totals.injected / dt;
  lat.sort((x, y) => x - y);
  const q = (p: number): string => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(0) : '-');
  console.log(`${label.padEnd(28)} ${Math.round(pps).toLocaleString('en-US').padStart(11)} pps${measureGp ? `   grace periods ${lat.length}, latency p50 ${q(0.5)} us, p99 ${q(0.99)} us` : ''}   conserved ${s.conserved}`);
  return pps;
}

console.log(`redirect, ${cpus} CPUs, ${seconds} s each`);
const off = await run('RCU bookkeeping compiled out', { rcu: false }, false);
const on = await run('RCU bookkeeping on', {}, false);
const chk = await run('on, read-side check on', { rcuCheck: true }, false);
await run('on, timing grace periods', {}, true);
console.log(`ratio on/off ${(on / off).toFixed(3)}   check-on/off ${(chk / off).toFixed(3)}`);
