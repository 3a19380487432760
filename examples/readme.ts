/*
 * The README's library example, runnable: node --import tsx examples/readme.ts
 * veth0 forwards everything to sink0 through the seed's tx_port DEVMAP; the
 * program is then replaced, under traffic, by one that counts and passes.
 */
import { fileURLToPath } from 'node:url';
import { Runtime, XDP_FLAGS_REPLACE } from 'xdpsim';

const example = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

const rt = await Runtime.start({ cpus: 4 });                       // one worker thread per CPU
const [veth0] = rt.createVeth('veth0', 'veth1', { rxQueues: 4 });  // queues spread round-robin over the CPUs
const sink = rt.createSink('sink0');                               // counts and frees what it transmits

const fwd = await rt.loadObject(example('devmap_tx_port.ts'));     // every CPU imports it; maps are shared
fwd.maps.tx_port!.update(sink.ifindex, sink.ifindex);              // DEVMAP: key -> ifindex (bpf(2) rules, errnos)
veth0.attachXdp(fwd.progs.xdp_redirect_map_func!);                 // broadcast to all but the ingress: sink0
await veth0.inject({ count: 100_000, size: 64, flows: 64 });       // RSS-spread UDP/IPv4 frames

const count = await rt.loadObject(example('xdp_count.ts'));
veth0.attachXdp(count.progs.xdp_count!, { flags: XDP_FLAGS_REPLACE, expected: fwd.progs.xdp_redirect_map_func! });
let passed = 0;
veth0.onPass(() => passed++);                                      // copies of frames given to the stack
await veth0.inject({ count: 1000, flows: 64 });
await rt.quiesce();                                                // every ring empty, every CPU asleep

const final = await rt.stop();                                     // drains, joins the workers, purges rings
console.log(JSON.stringify({
  sink_tx: sink.stats().tx_packets, counted: count.maps.stats!.lookupU64(0, 0), passed,
  devmap_xmits: rt.traceEvents('xdp_devmap_xmit').length > 0, conserved: final.conserved,
  pool_full: final.pool.free === final.pool.frames, tap_lost: final.cpus.map((c) => c.tap_lost),
}));
