/*
 * A scenario for `xdpsim run`: traffic redirected through a DEVMAP to two
 * veths, one of which has no XDP program on its peer (a veth then does not
 * advertise NDO_XMIT: xdp_do_redirect fails with -EOPNOTSUPP, REDIRECT_ERR),
 * plus flows whose key has no entry (a lookup miss: XDP_DROP, the action in
 * the flags). Runs until interrupted, or for ARGS[0] ms.
 *
 *   npx xdpsim run examples/scenarios/redirect_drops.ts 3000
 */
import { fileURLToPath } from 'node:url';
import type { Scenario } from 'xdpsim';

const example = (f: string): string => fileURLToPath(new URL(`../${f}`, import.meta.url));

const scenario: Scenario = async (rt, ctx) => {
  const [in0] = rt.createVeth('in0', 'in0p', { rxQueues: rt.cpus });
  const [out0, outp0] = rt.createVeth('out0', 'outp0');
  const [out1] = rt.createVeth('out1', 'outp1'); /* outp1 has no XDP program: no NAPI, sends to it fail */
  const pass = await rt.loadObject(example('xdp_pass.ts'));
  outp0.attachXdp(pass.progs.xdp_pass!);
  const obj = await rt.loadObject(example('xdp_redirect_flows.ts'));
  obj.maps.cfg!.update(0, 3); /* key = source port % 3: entries 0 and 1, key 2 misses */
  obj.maps.tx_ports!.update(0, out0.ifindex);
  obj.maps.tx_ports!.update(1, out1.ifindex);
  in0.attachXdp(obj.progs.xdp_redirect_flows!);
  ctx.log(`in0 -> tx_ports: 0 -> out0 (peer passes), 1 -> out1 (peer without a program), 2 -> nothing`);
  /* ARGS[0] ms, or a day: Ctrl-C ends it sooner */
  const ms = ctx.args[0] !== undefined ? Number(ctx.args[0]) : 86_400_000;
  if (ctx.signal.aborted) return;
  const gen = await in0.generate({ traffic: { flows: 30 }, rate: 300_000, durationMs: ms });
  /* (an abort that came while the generator started is seen here too) */
  if (ctx.signal.aborted) void gen.stop();
  else ctx.signal.addEventListener('abort', () => void gen.stop(), { once: true });
  const r = await gen.done;
  ctx.log(`generated ${r.sent} frames (${r.ended})`);
};
export default scenario;
