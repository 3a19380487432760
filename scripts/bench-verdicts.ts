/*
 * Benchmark: frames per second through the verdict path, by action and CPU
 * count, with the main thread's traffic source. Prints one row per case and
 * ratios against the first row. Not a test: numbers vary with the machine.
 *
 *   node --import tsx scripts/bench-verdicts.ts [--seconds 3] [--cpus 1,2] [--actions drop,pass,tx,redirect]
 *
 * redirect: examples/xdp_redirect_flows.ts over a DEVMAP of two sinks.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Runtime, XDP_DROP, XDP_PASS, XDP_TX } from '../src/index.ts';

const { values } = parseArgs({ options: {
  seconds: { type: 'string', default: '3' },
  cpus: { type: 'string', default: '1,2' },
  actions: { type: 'string', default: 'drop,pass,tx,redirect' },
} });
const seconds = Number(values.seconds);
const acts: Record<string, number> = { drop: XDP_DROP, pass: XDP_PASS, tx: XDP_TX };
const ex = (f: string): string => fileURLToPath(new URL(`../examples/${f}`, import.meta.url));

let base = 0;
console.log('action    cpus   frames/s   per CPU   ratio  conserved');
for (const action of values.actions!.split(',')) {
  for (const cpus of values.cpus!.split(',').map(Number)) {
    const rt = await Runtime.start({ cpus });
    const [v0, v1] = rt.createVeth('veth0', 'veth1', { rxQueues: cpus });
    if (action === 'redirect') {
      const obj = await rt.loadObject(ex('xdp_redirect_flows.ts'));
      obj.maps.cfg!.update(0, 2);
      for (let i = 0; i < 2; i++) obj.maps.tx_ports!.update(i, rt.createSink(`sink${i}`).ifindex);
      v0.attachXdp(obj.progs.xdp_redirect_flows!);
    } else {
      const obj = await rt.loadObject(ex('xdp_count.ts'));
      obj.maps.config!.update(0, acts[action]!);
      v0.attachXdp(obj.progs.xdp_count!);
      if (action === 'tx') v1.attachXdp((await rt.loadObject(ex('xdp_drop.ts'))).progs.xdp_drop!);
    }
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    while (performance.now() < until) await v0.inject({ count: 4096, flows: 64 });
    await rt.quiesce();
    const dt = (performance.now() - t0) / 1000;
    const s = await rt.stop();
    const pps = s.totals.injected / dt;
    if (base === 0) base = pps;
    console.log(`${action.padEnd(8)} ${String(cpus).padStart(5)} ${Math.round(pps).toLocaleString('en-US').padStart(10)} ${Math.round(pps / cpus).toLocaleString('en-US').padStart(9)}   ${(pps / base).toFixed(2)}  ${s.conserved}`);
  }
}
