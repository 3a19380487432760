/*
 * `xdpsim bench MODE`: xdp-bench's modes on simulated CPUs, with the
 * traffic generated on the ingress device's wire (src/cpu/wiregen.ts).
 *
 * Topology: in0 <-> in0p (the ingress pair, one RX queue per CPU, the
 * generator on in0's queues); the redirect modes add out0..outN-1 <->
 * outp0.. whose peers run a dropping program, as the kernel benchmark's
 * "veth whose peer drops". XDP_TX sends into in0p, which drops too.
 *
 * Counting is the runtime's own (per-CPU counters in shared memory): rx is
 * what in0's queues polled, redirect what its program redirected, xmit the
 * frames the egress devices transmitted, drop the XDP_DROP verdicts of the
 * program under test, errors every other drop (redirect errors, transmit
 * errors, exceptions, missed frames...). The peers' drops are the sink and
 * are not counted as drops.
 */
import { fileURLToPath } from 'node:url';
import { Runtime, type Device, type Stats } from '../runtime.ts';
import { cpumapVal } from '../maps/cpumap.ts';
import { Umem } from '../xsk/umem.ts';
import { startXskConsumer, type XskConsumer } from '../xsk/consumer.ts';
import { DROP_REASONS } from '../shared/counters.ts';
import { compileTraffic, type TrafficSpec } from '../gen/packets.ts';
import { dropRows, dropTable, type DropRow } from '../droptable.ts';
import { fmt } from '../fmt.ts';
import { openControlSocket } from '../control.ts';

export const BENCH_MODES = ['drop', 'pass', 'tx', 'redirect', 'redirect-map', 'redirect-multi', 'redirect-cpu', 'redirect-xsk'] as const;
export const REMOTE_ACTIONS = ['disabled', 'drop', 'pass'] as const;
export type RemoteAction = (typeof REMOTE_ACTIONS)[number];
export type BenchMode = (typeof BENCH_MODES)[number];
export const PACKET_OPS = ['no-touch', 'read-data', 'parse-ip', 'swap-macs'] as const;
export type PacketOp = (typeof PACKET_OPS)[number];

export interface BenchOptions {
  mode: BenchMode;
  cpus?: number;
  /** seconds of traffic (default 5) */
  duration?: number;
  /** seconds between rows (default 1; 0: none) */
  interval?: number;
  /** frame size without FCS (default 64) */
  pktSize?: number;
  /** flows (default 64: enough for RSS to feed every CPU) */
  flows?: number;
  /** DEV_MAP_BULK_SIZE ablation: 1..16 (default 16) */
  bulkSize?: number;
  /** seeds the size sequence of a size range or IMIX (default 1) */
  seed?: number;
  /** the program's packet operation (xdp-bench's -p; default no-touch, swap-macs for tx) */
  op?: PacketOp;
  /** target pps (0: as fast as the CPUs go) */
  rate?: number;
  /** egress devices of redirect-multi (default 2) */
  ports?: number;
  /** redirect-cpu: the cpumap entries' qsize (default 2048) and program (xdp-bench --remote-action; default disabled: no program, frames go to the stack) */
  qsize?: number;
  remoteAction?: RemoteAction;
  /** redirect-xsk: what each socket's consumer thread does (default rxdrop; echo sends every frame back out of in0) */
  xskMode?: 'rxdrop' | 'echo';
  /** per-CPU rows (xdp-bench -e) */
  extended?: boolean;
  /** RCU bookkeeping (default on; off only to measure its cost) */
  rcu?: boolean;
  /** more traffic options (l3, l4, vlan, size ranges...) */
  traffic?: TrafficSpec;
  /**
   * tracepoints: 'off' (the default, as on a kernel with no tracer
   * attached: each costs one flag check), 'errors' (xdp_exception and
   * xdp_redirect_err only), 'runtime' (the runtime's default: all but the
   * per-frame xdp_redirect), 'all'
   */
  tracing?: 'off' | 'errors' | 'runtime' | 'all';
  /** replay a pcap/pcapng file instead of generated traffic (looped until the duration ends) */
  replay?: string;
  /** replay at the capture's recorded pace */
  paced?: boolean;
  /** replay: passes over the capture (default: until the duration ends) */
  loops?: number;
  /** capture in0 at XDP entry and exit into a pcapng file (the first `count` packets) */
  capture?: { file: string; count?: number };
  /** open the control socket (a path, or true for one in the temp directory); its path is printed */
  listen?: string | true;
  /** told the control socket's path once it is open */
  onListen?: (path: string) => void;
  /**
   * ends the run early (Ctrl-C): the generators stop, the frames drain, and
   * the summary's figures are over the time the traffic ran (interrupted
   * says so)
   */
  signal?: AbortSignal;
  /**
   * a clang-compiled object (.o) whose program runs on in0 instead of the
   * built-in TypeScript one: the program named like the built-in
   * (bench_drop_parse, ...) if the object has it, else its first; its maps
   * cfg, tx_port and forward_map, if it has them, are set up as the
   * built-in's (examples/bpf/xdp_bench.c is the built-in object in C)
   */
  prog?: string;
}

export interface BenchSummary {
  mode: BenchMode;
  op: PacketOp;
  /** the program on in0: 'NAME' (built-in) or 'NAME (FILE)' (--prog) */
  prog: string;
  cpus: number;
  duration_s: number;
  /** the frame size, or the size spec ('imix', 'MIN-MAX') */
  pkt_size: number | string;
  flows: number;
  bulk_size: number;
  frames_in: number;
  frames_out: number;
  rx_pps: number;
  rx_pps_per_cpu: number;
  per_cpu_rx_pps: number[];
  redirect_pps: number;
  xmit_pps: number;
  drop_pps: number;
  errors: number;
  errors_by_reason: Record<string, number>;
  /** every drop reason that counted: where, what it means, and its last frame (flow) */
  drops: DropRow[];
  leaked_frames: number;
  conserved: boolean;
  /** the signal's name (or 'aborted') if `signal` ended the traffic early, else null */
  interrupted: string | null;
  generator: { sent: number; missed: number; rewrites: number; stalls: number };
  /** what the CPUs ran: the worker bundle (src/cpu/bundle.ts), or the sources through tsx (XDPSIM_BUNDLE=0) */
  worker_code: 'bundle' | 'sources';
}

type Out = (s: string) => void;

const PROGS = fileURLToPath(new URL('./xdp_bench.ts', import.meta.url));

function progName(mode: BenchMode, op: PacketOp): string {
  const suffix = { 'no-touch': '', 'read-data': '_read', 'parse-ip': '_parse', 'swap-macs': '_swap' }[op];
  switch (mode) {
    case 'drop': case 'pass': case 'tx': return `bench_${mode}${suffix}`;
    case 'redirect': return op === 'swap-macs' ? 'bench_redirect_swap' : 'bench_redirect';
    case 'redirect-map': return op === 'swap-macs' ? 'bench_redirect_map_swap' : 'bench_redirect_map';
    case 'redirect-multi': return 'bench_redirect_multi';
    case 'redirect-cpu': return 'bench_redirect_cpu';
    case 'redirect-xsk': return 'bench_redirect_xsk';
  }
}

interface Scene { in0: Device; outs: Device[]; sinks: Device[]; prog: string; consumers: XskConsumer[]; cpumap: boolean }

async function scene(rt: Runtime, mode: BenchMode, op: PacketOp, ports: number, o: BenchOptions): Promise<Scene> {
  const progFile = o.prog;
  const cpus = rt.cpus;
  const [in0, in0p] = rt.createVeth('in0', 'in0p', { rxQueues: cpus }, { rxQueues: cpus });
  const obj = await rt.loadObject(PROGS);
  const outs: Device[] = [];
  const sinks: Device[] = [];
  const n = mode === 'redirect-multi' ? ports : mode === 'redirect' || mode === 'redirect-map' ? 1 : 0;
  for (let i = 0; i < n; i++) {
    const [o, p] = rt.createVeth(`out${i}`, `outp${i}`, { rxQueues: cpus }, { rxQueues: cpus });
    p.attachXdp(obj.progs.bench_sink_drop!);
    outs.push(o);
    sinks.push(p);
  }
  if (mode === 'tx') {
    in0p.attachXdp(obj.progs.bench_sink_drop!);
    outs.push(in0);
    sinks.push(in0p);
  }
  /* the program under test: built in, or a clang-compiled object's */
  const under = progFile !== undefined ? await rt.loadObject(progFile) : obj;
  const name = progName(mode, op);
  const h = under.progs[name] ?? Object.values(under.progs)[0]!;
  if (mode === 'redirect') under.maps.cfg?.update(0, outs[0]!.ifindex);
  if (mode === 'redirect-map') under.maps.tx_port?.update(0, outs[0]!.ifindex);
  if (mode === 'redirect-multi') outs.forEach((o) => under.maps.forward_map?.update(o.ifindex, o.ifindex));
  if (mode === 'redirect-cpu') {
    const ra = o.remoteAction ?? 'disabled';
    const prog = ra === 'drop' ? obj.progs.bench_cpumap_drop! : ra === 'pass' ? obj.progs.bench_cpumap_pass! : null;
    for (let c = 0; c < cpus; c++) under.maps.cpu_map?.update(c, cpumapVal(o.qsize ?? 2048, prog));
    under.maps.cpus_count?.update(0, cpus);
  }
  const consumers: XskConsumer[] = [];
  if (mode === 'redirect-xsk') {
    /* a socket per queue, each drained by an rxdrop (or echo) consumer thread, as xdpsock -r (-l) */
    for (let q = 0; q < cpus; q++) {
      const echo = o.xskMode === 'echo';
      const s = await rt.xskSocket({ dev: in0, queueId: q, umem: new Umem({ size: 4096 * 4096 }), txSize: echo ? 2048 : 0, rxSize: 2048, fillSize: 4096 });
      under.maps.xsks_map?.update(q, s.id);
      consumers.push(await startXskConsumer(s.shared, echo ? 'echo' : 'rxdrop'));
    }
  }
  in0.attachXdp(h);
  return { in0, outs, sinks, prog: progFile !== undefined ? `${h.name} (${progFile})` : h.name, consumers, cpumap: mode === 'redirect-cpu' };
}

interface Snap { t: number; rx: number; redirect: number; xmit: number; drop: number; errors: number; perCpu: number[] }

function snap(s: Stats, sc: Scene, t: number): Snap {
  const d = s.devices.find((x) => x.ifindex === sc.in0.ifindex)!;
  const outIdx = new Set(sc.outs.map((o) => o.ifindex));
  const sinkIdx = new Set(sc.sinks.map((o) => o.ifindex));
  let xmit = 0;
  let errors = 0;
  for (const x of s.devices) {
    if (outIdx.has(x.ifindex)) xmit += x.tx_packets;
    if (sinkIdx.has(x.ifindex)) continue;
    errors += x.drops - (x.ifindex === d.ifindex ? d.dropReasons.XDP_DROP : 0);
  }
  /* redirect-cpu: what the remote kthreads took; redirect-xsk: what the sockets received */
  if (sc.cpumap) xmit = s.cpus.reduce((a, c) => a + c.cpumap.kthread_processed, 0);
  if (sc.consumers.length > 0) xmit = d.xsk_rx;
  const drop = d.dropReasons.XDP_DROP + (sc.cpumap ? d.dropReasons.CPUMAP_PROG_DROP : 0);
  if (sc.cpumap) errors -= d.dropReasons.CPUMAP_PROG_DROP;
  return { t, rx: d.rx_packets, redirect: d.xdp_redirect, xmit, drop, errors, perCpu: d.perCpu.map((p) => p.rx_packets) };
}

function row(a: Snap, b: Snap, mode: BenchMode, extended: boolean): string[] {
  const dt = (b.t - a.t) / 1000;
  /* counters read while CPUs write them: a difference can be off by a frame in flight, never below 0 */
  const r = (k: 'rx' | 'redirect' | 'xmit' | 'drop' | 'errors'): string => fmt(Math.max(0, b[k] - a[k]) / dt).padStart(12);
  const redirecting = mode.startsWith('redirect');
  const lines = [`${'Summary'.padEnd(10)}${r('rx')} rx/s${redirecting ? `${r('redirect')} redir/s` : ''}${mode === 'drop' ? `${r('drop')} drop/s` : ''}${mode === 'tx' || redirecting ? `${r('xmit')} xmit/s` : ''}${r('errors')} err,drop/s`];
  if (extended) {
    b.perCpu.forEach((n, c) => lines.push(`  cpu:${String(c).padEnd(5)}${fmt((n - a.perCpu[c]!) / dt).padStart(12)} rx/s`));
  }
  return lines;
}

/** Run one benchmark; prints rows every interval (unless quiet) and returns the summary. */
export async function runBench(o: BenchOptions, out: Out = () => {}): Promise<BenchSummary> {
  const mode = o.mode;
  const cpus = o.cpus ?? 1;
  const duration = o.duration ?? 5;
  const interval = o.interval ?? 1;
  const pktSize = o.pktSize ?? 64;
  const flows = o.flows ?? 64;
  const bulk = o.bulkSize ?? 16;
  const op: PacketOp = o.op ?? (mode === 'tx' ? 'swap-macs' : 'no-touch');
  if (mode === 'redirect-multi' && op !== 'no-touch') throw new RangeError('redirect-multi: only --packet-operation no-touch (a broadcast clones the frame)');
  const rt = await Runtime.start({ cpus, bulkSize: bulk, rcu: o.rcu ?? true });
  let sc: Scene;
  try {
    sc = await scene(rt, mode, op, o.ports ?? 2, o);
  } catch (e) {
    await rt.stop();
    throw e;
  }
  const workerCode = (await rt.cpuCode()).every((u) => u.endsWith('/cpu/worker.ts')) ? 'sources' : 'bundle';
  if (o.listen !== undefined) {
    try {
      o.onListen?.((await openControlSocket(rt, o.listen)).path);
    } catch (e) {
      await rt.stop();
      throw e;
    }
  }
  if (o.capture !== undefined) rt.startCapture([sc.in0], { file: o.capture.file, points: ['entry', 'exit'], ...(o.capture.count !== undefined ? { count: o.capture.count } : {}) });
  const tracing = o.tracing ?? 'off';
  if (tracing !== 'runtime') {
    await rt.setTracepoints('all', tracing === 'all');
    if (tracing === 'errors') await rt.setTracepoints(['xdp_exception', 'xdp_redirect_err'], true);
  }
  /* without a size, the builder's default: 64 bytes, or the headers' length if longer (IPv6 TCP: 74) */
  /* ranges of addresses or ports without a flow count: every combination is a flow */
  const ranged = o.traffic !== undefined && ['srcIps', 'dstIps', 'srcPorts', 'dstPorts'].some((k) => k in o.traffic!);
  const traffic: TrafficSpec = { ...(o.pktSize !== undefined ? { size: pktSize } : {}), ...(o.flows !== undefined || !ranged ? { flows } : {}), seed: o.seed ?? 1, ...o.traffic };
  const sz = traffic.size ?? compileTraffic(traffic).minSize;
  const sizeName = o.replay !== undefined ? `replay of ${o.replay}` : typeof sz === 'number' ? sz : sz === 'imix' ? 'imix' : 'min' in sz ? `${sz.min}-${sz.max}` : 'imix (custom)';
  const t0 = performance.now();
  let prev = snap(rt.stats(), sc, t0);
  const first = prev;
  const source = o.replay !== undefined ? { replay: o.replay, paced: o.paced === true, ...(o.loops !== undefined ? { loops: o.loops } : {}) } : { traffic };
  let gen;
  try {
    gen = await sc.in0.generate({ ...source, durationMs: duration * 1000, ...(o.rate ? { rate: o.rate } : {}) });
  } catch (e) {
    await rt.stop();
    throw e;
  }
  /* xdp-bench's first line */
  const what = { drop: 'Dropping packets on', pass: 'Passing packets on', tx: 'Hairpinning (XDP_TX) packets on', redirect: 'Redirecting from', 'redirect-map': 'Redirecting from', 'redirect-multi': 'Redirecting from', 'redirect-cpu': 'Redirecting from', 'redirect-xsk': 'Redirecting from' }[mode];
  const to = mode === 'redirect-cpu' ? `CPUs ${Array.from({ length: cpus }, (_, c) => c).join(',')} (cpumap, qsize ${o.qsize ?? 2048}, remote action ${o.remoteAction ?? 'disabled'})`
    : mode === 'redirect-xsk' ? `AF_XDP sockets on queues ${Array.from({ length: cpus }, (_, c) => c).join(',')} (copy mode, ${o.xskMode ?? 'rxdrop'})`
    : sc.outs.filter((x) => x !== sc.in0).map((x) => `${x.name} (ifindex ${x.ifindex}; driver veth)`).join(', ');
  if (interval > 0) out(`${what} ${sc.in0.name} (ifindex ${sc.in0.ifindex}; driver veth)${mode.startsWith('redirect') ? ` to ${to}` : ''}`);
  const timer = interval > 0 ? setInterval(() => {
    const cur = snap(rt.stats(), sc, performance.now());
    for (const l of row(prev, cur, mode, o.extended === true)) out(l);
    prev = cur;
  }, interval * 1000) : null;
  const signal = o.signal;
  const onAbort = (): void => { gen.stop().catch(() => {}); };
  signal?.addEventListener('abort', onAbort, { once: true });
  /* a signal before the generators ran */
  if (signal?.aborted === true) onAbort();
  const g = await gen.done;
  signal?.removeEventListener('abort', onAbort);
  const interrupted = signal?.aborted === true ? (typeof signal.reason === 'string' ? signal.reason : 'aborted') : null;
  if (g.ended !== 'done' && !(g.ended === 'stopped' && interrupted !== null)) {
    if (timer) clearInterval(timer);
    await rt.stop();
    throw new Error(`the generator ended early: ${g.ended}`);
  }
  if (timer) clearInterval(timer);
  const tEnd = performance.now();
  await rt.quiesce(2000);
  for (const c of sc.consumers) await c.stop();
  const s = await rt.stop();
  const drops = dropRows(s, rt.lastDrops());
  const last = snap(s, sc, tEnd);
  /* the rates are over the generators' own run time (the longest queue) */
  const secs = Math.max(...g.queues.map((q) => q.ms), 1) / 1000;
  const t = s.totals;
  const framesIn = t.injected + t.clones + t.xsk_tx;
  const framesOut = t.stack + t.xmit_consumed + t.xsk_rx + t.dropped;
  const errorsBy: Record<string, number> = {};
  const sinkIdx = new Set(sc.sinks.map((x) => x.ifindex));
  for (const d of s.devices) {
    if (sinkIdx.has(d.ifindex)) continue;
    for (const r of DROP_REASONS) {
      const n = d.dropReasons[r] - (r === 'XDP_DROP' && d.ifindex === sc.in0.ifindex ? d.dropReasons[r] : 0);
      if (n > 0) errorsBy[r] = (errorsBy[r] ?? 0) + n;
    }
  }
  const perCpu = last.perCpu.map((n, c) => (n - first.perCpu[c]!) / secs);
  const sum: BenchSummary = {
    mode, op, prog: sc.prog, cpus, duration_s: secs, pkt_size: sizeName, flows: traffic.flows ?? compileTraffic(traffic).nflows, bulk_size: bulk,
    frames_in: framesIn, frames_out: framesOut,
    rx_pps: (last.rx - first.rx) / secs, rx_pps_per_cpu: (last.rx - first.rx) / secs / cpus, per_cpu_rx_pps: perCpu,
    redirect_pps: (last.redirect - first.redirect) / secs, xmit_pps: (last.xmit - first.xmit) / secs,
    drop_pps: (last.drop - first.drop) / secs, errors: last.errors - first.errors, errors_by_reason: errorsBy, drops,
    /* after stop() every frame must be back in the pool */
    leaked_frames: s.pool.frames - s.pool.free, conserved: s.conserved && framesIn === framesOut, interrupted,
    generator: { sent: g.sent, missed: g.missed, rewrites: g.queues.reduce((a, q) => a + q.rewrites, 0), stalls: g.queues.reduce((a, q) => a + q.stalls, 0) },
    worker_code: workerCode,
  };
  return sum;
}

/** The closing lines of a human-readable run. */
export function summaryLines(s: BenchSummary): string[] {
  const lines = [
    `${s.mode} (${s.op}): ${s.cpus} CPU${s.cpus > 1 ? 's' : ''}, ${typeof s.pkt_size === 'number' ? `${s.pkt_size}-byte frames` : s.pkt_size.startsWith('replay') ? s.pkt_size : `${s.pkt_size} frames`}${s.pkt_size.toString().startsWith('replay') ? '' : `, ${s.flows} flow${s.flows > 1 ? 's' : ''}`}, bulk ${s.bulk_size}, ${s.duration_s.toFixed(2)} s`,
    `  rx ${fmt(s.rx_pps)} pps (${fmt(s.rx_pps_per_cpu)} per CPU: ${s.per_cpu_rx_pps.map(fmt).join(', ')})`,
  ];
  if (s.prog.includes(' (')) lines.splice(1, 0, `  program ${s.prog}`);
  if (s.mode.startsWith('redirect')) lines.push(`  redirect ${fmt(s.redirect_pps)} pps  xmit ${fmt(s.xmit_pps)} pps`);
  if (s.mode === 'tx') lines.push(`  xmit ${fmt(s.xmit_pps)} pps`);
  if (s.mode === 'drop') lines.push(`  drop ${fmt(s.drop_pps)} pps`);
  lines.push(`  errors ${fmt(s.errors)}${Object.keys(s.errors_by_reason).length ? ` (${Object.entries(s.errors_by_reason).map(([r, n]) => `${r} ${fmt(n)}`).join(', ')})` : ''}`);
  lines.push(`  frames: in ${fmt(s.frames_in)} out ${fmt(s.frames_out)} leaked ${s.leaked_frames}: ${s.conserved ? 'conserved' : 'NOT CONSERVED'}`);
  for (const l of dropTable(s.drops)) lines.push(l);
  return lines;
}
