/*
 * Every way a redirected frame can vanish, one ingress device each, then
 * what xdpsim shows of it: the drop table (`xdpsim run` prints it), and
 * the xdp_redirect_err / xdp_devmap_xmit / xdp_exception records by
 * device. docs/troubleshooting.md is this scenario's output, explained.
 *
 *   npx xdpsim run examples/scenarios/vanish.ts --cpus 1
 */
import { fileURLToPath } from 'node:url';
import { BPF_F_BROADCAST, NETDEV_XDP_ACT_BASIC, NETDEV_XDP_ACT_NDO_XMIT, XDP_PASS, devmapVal, type Scenario } from 'xdpsim';

const example = (f: string): string => fileURLToPath(new URL(`../${f}`, import.meta.url));

const scenario: Scenario = async (rt, ctx) => {
  const obj = await rt.loadObject(example('vanish.ts'));
  const slow = await rt.loadObject(example('xdp_count.ts'));
  const ports = obj.maps.out_ports!;
  const how = obj.maps.how!;
  /* the targets */
  const ok = rt.createSink('ok');                                             /* key 0: takes everything */
  const down = rt.createSink('down');                                         /* key 1: will be down */
  const [noprog] = rt.createVeth('noprog', 'noprogp');                        /* key 2: its peer has no XDP program */
  const small = rt.createSink('small', { mtu: 500 });                         /* key 3: MTU 500 */
  const nosg = rt.createSink('nosg', { xdpFeatures: NETDEV_XDP_ACT_BASIC | NETDEV_XDP_ACT_NDO_XMIT }); /* key 4: no NDO_XMIT_SG */
  const [tiny, tinyp] = rt.createVeth('tiny', 'tinyp', {}, { ringSize: 32 }); /* key 5: a 32-slot ring: a poll's bulks overflow it */
  ports.update(0, devmapVal(ok.ifindex));
  ports.update(1, devmapVal(down.ifindex));
  ports.update(2, devmapVal(noprog.ifindex));
  ports.update(3, devmapVal(small.ifindex));
  ports.update(4, devmapVal(nosg.ifindex));
  ports.update(5, devmapVal(tiny.ifindex));
  ports.update(6, devmapVal(ok.ifindex, obj.progs.egress_drop!));             /* key 6: a devmap program that drops */
  tinyp.attachXdp(slow.progs.xdp_count!);
  down.down();
  const row = (key: number, flags: number): Uint8Array => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint32(0, key, true);
    new DataView(b.buffer).setUint32(4, flags >>> 0, true);
    return b;
  };
  /* one ingress per way to vanish: [name, key, flags, frame size, frags] */
  const cases: Array<[string, number, number, number, number | false]> = [
    ['miss', 9, 0, 64, false],                 /* no entry 9, flags 0: the miss returns XDP_ABORTED */
    ['misspass', 9, XDP_PASS, 64, false],      /* no entry 9, flags XDP_PASS: to the stack, no trace at all */
    ['badflags', 0, 1 << 5, 64, false],        /* an unknown flag bit: XDP_ABORTED */
    ['todown', 1, 0, 64, false],               /* target down: -ENETDOWN */
    ['tonoprog', 2, 0, 64, false],             /* veth peer without a program: -EOPNOTSUPP (no NDO_XMIT) */
    ['tosmall', 3, 0, 600, false],             /* over the target's MTU: -EMSGSIZE */
    ['tonosg', 4, 0, 600, 100],                /* multi-buffer frame, target without SG: -EOPNOTSUPP */
    ['totiny', 5, 0, 64, false],               /* the peer's ring fills: ndo_xdp_xmit takes part of a bulk */
    ['todrop', 6, 0, 64, false],               /* the devmap program drops */
    ['tobcast', 0, BPF_F_BROADCAST, 64, false],/* broadcast: every entry, each its own fate */
  ];
  for (const [name, key, flags, size, frags] of cases) {
    const [dev] = rt.createVeth(name, `${name}p`, { mtu: 9000 });
    how.update(dev.ifindex, row(key, flags));
    dev.attachXdp(obj.progs.xdp_vanish!);
    await dev.inject({ count: name === 'totiny' ? 4096 : 100, size, ...(frags ? { frags } : {}) });
    if (ctx.signal.aborted) return;
  }
  await rt.quiesce();
  /* the trace records, counted by device and err */
  const counts = new Map<string, number>();
  for (const e of rt.traceEvents()) {
    if (e.event === 'xdp_bulk_tx') continue;
    const dev = (ix: unknown): string => rt.listDevices().find((d) => d.ifindex === ix)?.name ?? String(ix);
    const k = e.event === 'xdp_redirect_err' ? `xdp_redirect_err  ${dev(e.ifindex)} -> ${dev(e.to_ifindex)}  err ${e.err}`
      : e.event === 'xdp_devmap_xmit' ? `xdp_devmap_xmit   ${dev(e.from_ifindex)} -> ${dev(e.to_ifindex)}  ${Number(e.drops) > 0 ? 'with drops' : 'all sent'}${e.err ? `, err ${e.err}` : ''}`
        : e.event === 'xdp_exception' ? `xdp_exception     ${dev(e.ifindex)}  act ${e.act_name}` : e.event;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  ctx.log('trace records (xdp_devmap_xmit: one per bulk):');
  for (const [k, n] of [...counts].sort()) ctx.log(`  ${String(n).padStart(5)}  ${k}`);
  const stack = rt.listDevices().find((d) => d.name === 'misspass')!.stats().stack;
  ctx.log(`misspass: ${stack} frames went to the stack (XDP_PASS from the flags): no drop, no record`);
};
export default scenario;
