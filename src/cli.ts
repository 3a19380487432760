/*
 * The xdpsim command line: subcommands parsed with util.parseArgs, each
 * with --help. Runs on the main thread, as user space does.
 *
 *   xdpsim demo   the default scenario, a few seconds, rates every second
 *   xdpsim run    one program object on a veth pair with injected traffic
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { lstatSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Runtime, type BpfObject, type Device, type Scenario, type Stats } from './runtime.ts';
import { XDP_ACTION_NAMES, XDP_DROP, XDP_PASS, XDP_TX } from './shared/uapi.ts';
import { EINVAL, XdpsimError } from './shared/errno.ts';
import { ControlClient, openControlSocket } from './control.ts';
import { removeIfOurs } from './control-fs.ts';
import { fmt } from './fmt.ts';
import { MapCmdError, runMapCommand, splitCommands, type MapScene } from './cli-map.ts';
import { TORTURE_FAULTS, runTorture, type TortureFault } from './torture.ts';
import { RCU_FAULTS, type RcuFault } from './shared/rcu.ts';
import { DROP_REASONS } from './shared/counters.ts';
import { BENCH_MODES, PACKET_OPS, REMOTE_ACTIONS, runBench, summaryLines, type BenchMode, type BenchOptions, type BenchSummary, type PacketOp, type RemoteAction } from './bench/bench.ts';
import type { SizeSpec } from './gen/packets.ts';
import { dropRows, dropTable } from './droptable.ts';
import type { DropNote } from './shared/dropnote.ts';

type Out = (s: string) => void;

const example = (name: string): string => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

/* --capture FILE [--capture-count N]: the ingress device at XDP entry and exit, into a pcapng file (set per command) */
let captureReq: { file: string; count?: number } | null = null;
const CAPTURE_OPTS = {
  capture: { type: 'string' },
  'capture-count': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

function captureFrom(v: { capture?: string | undefined; 'capture-count'?: string | undefined }): void {
  captureReq = v.capture === undefined ? null : { file: v.capture, ...(v['capture-count'] !== undefined ? { count: int('capture-count', v['capture-count'], 1, 1e9) } : {}) };
  if (captureReq === null && v['capture-count'] !== undefined) throw new UsageError('--capture-count needs --capture FILE');
}

/* --listen [--socket PATH]: a control socket at PATH, or at the default path (true); undefined: none */
function listenOption(v: { listen?: boolean | undefined; socket?: string | undefined }): string | true | undefined {
  return v.listen || v.socket !== undefined ? (v.socket ?? true) : undefined;
}

/* start the requested capture on the scenario's ingress device */
function maybeCapture(rt: Runtime, dev: Device): void {
  if (captureReq !== null) rt.startCapture([dev], { file: captureReq.file, points: ['entry', 'exit'], ...(captureReq.count !== undefined ? { count: captureReq.count } : {}) });
}

const COMMON = {
  cpus: { type: 'string', default: '2' },
  duration: { type: 'string', default: '5' },
  size: { type: 'string', default: '64' },
  flows: { type: 'string', default: '64' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  ...CAPTURE_OPTS,
} as const satisfies ParseArgsConfig['options'];

const HELP: Record<string, string> = {
  main: `usage: xdpsim <command> [options]

commands:
  demo     run the default scenario for a few seconds and print rates
  run      run a program object on a veth pair with injected traffic
  map      bpftool-style map commands (create, update, lookup, delete, dump) on a scenario
  torture  rcutorture for the redirect path: traffic while writers churn devmaps and devices
  bench    xdp-bench modes (drop, pass, tx, redirect, redirect-map, redirect-multi) at full speed
  monitor  xdp-monitor for a running xdpsim (--socket PATH)
  trace    the trace records of a running xdpsim, as JSON lines (--socket PATH)
  dump     xdpdump for a running xdpsim: a pcapng capture (--socket PATH -i DEV -w FILE)

Ctrl-C or SIGTERM ends demo, run, torture and bench as their duration
would: the traffic stops and drains, the summary (--json: its object) covers
the time run, the control socket is removed, and the status is 0 if every
frame was accounted for. A second Ctrl-C or SIGTERM exits at once (130, 143).

xdpsim <command> --help shows a command's options.`,
  demo: `usage: xdpsim demo [options]

Two simulated CPUs, a veth pair (veth0, veth1) with one RX queue per CPU,
UDP/IPv4 traffic generated on veth0's RX queues (by the CPU that polls
each, see Runtime.generate), and examples/xdp_count.ts on veth0:
it counts packets and bytes per CPU and returns --action. With tx, veth1
runs examples/xdp_pass.ts so veth0 can transmit into it. Prints one line
of rates per second, then a summary; exits 0 when every frame is
accounted for.

With --scenario redirect: in0 runs examples/xdp_redirect_flows.ts, which
spreads flows over a DEVMAP of --ports egress veths (out0, out1, ...) whose
peers count and pass; the lines show each egress device's transmit rate.

With --scenario cpumap: in0's program spreads frames over every CPU through
a CPUMAP whose entries run a cpumap program (XDP_PASS) on the remote CPU,
which hands them to in0's stack (the bench's redirect-cpu mode). With
--scenario xsk: in0's program redirects each queue's frames to an AF_XDP
socket (copy mode) whose consumer thread echoes them back out of in0 with
the MAC addresses swapped (--xsk-mode rxdrop: gives the chunks back instead).

options:
  --scenario S    verdict (the default above) | redirect | cpumap | xsk
  --xsk-mode M    xsk: echo (default) | rxdrop
  --ports N       redirect: egress devices (default 3)
  --cpus N        simulated CPUs (default 2)
  --duration S    seconds of traffic (default 5)
  --action A      verdict: drop | pass | tx (default drop)
  --size B        frame size in bytes (default 64)
  --flows N       UDP flows, spread over RX queues by hash (default 64)
  --json          print the summary as one JSON object on the last line
  --capture FILE  capture the ingress device at XDP entry and exit into a
                  pcapng file (--capture-count N: the first N packets)
  --listen        open a control socket (--socket PATH; its path goes to stderr)`,
  map: `usage: xdpsim map [options] COMMAND [-- COMMAND]...

Runs bpftool-style map commands, in order, against a scenario: by default
the redirect demo's devices (in0, out0..out2 and their peers) and its maps
(tx_ports, a DEVMAP; cfg), plus the maps of every --prog object. Output is
bpftool's ('key: .. value: ..', 'Found N elements'; --json: its JSON).
A failing command prints 'Error: ...' and ends the run with status 1.

commands:
  create NAME type TYPE key N value N entries N [flags N]
        TYPE: array, hash, percpu_array, percpu_hash, devmap, devmap_hash
  update name NAME key KEY value VALUE [prog PROG] [any|noexist|exist]
  lookup name NAME key KEY
  delete name NAME key KEY
  getnext name NAME [key KEY]
  dump name NAME
  show
KEY, VALUE: one number (a u8, u32 or u64 for 1-, 4- and 8-byte fields),
'dev DEVICE' (its ifindex), 'hex XX ..', or one number per byte (0..255);
numbers are decimal, 0x hex or 0-prefixed octal, and must fit their field
exactly (else Error: naming the field). 'prog PROG' puts a loaded xdp/devmap
program into a DEVMAP entry (struct bpf_devmap_val).

options:
  --scenario S    redirect (default) | none (only lo)
  --ports N       redirect scenario: egress devices (default 3)
  --prog FILE     load a program object (repeatable)
  --cpus N        simulated CPUs (default 1)
  --json          JSON output

example:
  xdpsim map create fwd type devmap_hash key 4 value 8 entries 8 -- \\
    update name fwd key dev in0 value dev out1 -- dump name fwd`,
  torture: `usage: xdpsim torture [options]

Runs N CPUs of redirect traffic (examples/xdp_torture.ts) through a DEVMAP
and a DEVMAP_HASH while writers, driven by a seeded PRNG, replace, delete
and re-add entries, swap devmap programs, and unregister and re-register
target devices. The RCU read-side check is on. Prints a status line per
interval and a summary: grace periods and their latency, updates, frames in
and out, drops by reason, the readers' pipeline (how many grace periods past
its retirement a record a reader held was: only 0 is correct), violations,
leaked frames, every error the writers got by errno (the one expected is
EINVAL for an entry pointing at a target being unregistered), and the
process's RSS at the trial's start, peak (sampled every second) and end.
Exits 0 only with no violation, no leak, no unexpected writer error, and
every frame accounted for. Ctrl-C ends the trial early with its report.

options:
  --cpus N        simulated CPUs (default 2)
  --duration S    seconds (default 5)
  --seed N        the PRNG seed (default: random, printed)
  --rate N        writer updates per second (default 2000)
  --interval S    seconds between status lines (default 1; 0 for none)
  --targets N     target veth pairs (default 3)
  --inject F      plant a bug: no-gp, short-gp, early-qs, flush-outside (the
                  RCU's), stale-ifindex (the writer's: 1 update in 50 points at
                  a device that is gone) (repeatable)
  --listen        open a control socket (--socket PATH; its path goes to stderr)
  --json          the summary as one JSON object on the last line`,
  bench: `usage: xdpsim bench MODE [options]

Runs an xdp-bench mode on simulated CPUs with traffic generated on the wire
of in0's RX queues (one per CPU, spread by RSS): frames prepared ahead and
recycled, as BPF_PROG_TEST_RUN's live frames are. Every --interval prints
a row (rx/s, redirect and transmit rates, errors and drops per second; per
CPU with --extended); at the end a summary, which says whether every frame
was accounted for.

modes:
  drop            XDP_DROP on in0
  pass            XDP_PASS: frames go to in0's stack
  tx              XDP_TX back out of in0 into in0p, whose program drops
  redirect        bpf_redirect() to out0, whose peer outp0 drops
  redirect-map    bpf_redirect_map() through a DEVMAP to out0
  redirect-multi  broadcast through a DEVMAP_HASH to out0..out{ports-1}
  redirect-cpu    bpf_redirect_map() through a CPUMAP, round robin over the
                  CPUs; the remote CPU's kthread runs --remote-action and
                  hands the frames to in0's stack (xmit/s: frames the
                  kthreads took)
  redirect-xsk    bpf_redirect_map() through an XSKMAP to an AF_XDP socket
                  per queue (copy mode), each drained by an rxdrop consumer
                  thread (xmit/s: frames the sockets received)

options:
  --cpus N          simulated CPUs (default 1)
  --duration S      seconds of traffic (default 5)
  --interval S      seconds between rows (default 1; 0: none)
  --pkt-size B      frame size without FCS (default 64, or the headers'
                    length if longer), or MIN-MAX, or imix
  --flows N         flows, spread over the RX queues by RSS (default 64, or
                    every combination of the address and port ranges)
  --l3 P            ipv4 | ipv6 (default ipv4)
  --l4 P            udp | tcp-syn (default udp)
  --vlan ID         add an 802.1Q tag
  --rate PPS        target rate (default: as fast as the CPUs go)
  --src-ip A, --dst-ip A   first address of the ranges (10.0.0.1, 10.0.0.2; fd00::1, fd00::2)
  --src-ips N, --dst-ips N consecutive addresses (default 1)
  --src-port P, --dst-port P, --src-ports N, --dst-ports N   the same for ports
                    (1024 and 9; with only --flows N the source port varies)
  --replay FILE     replay a pcap or pcapng capture instead of generated
                    traffic, looped until the duration ends (or --loops N
                    passes); --paced keeps its recorded gaps
  --bulk-size N     DEV_MAP_BULK_SIZE ablation, 1..16 (default 16)
  --packet-operation OP  no-touch | read-data | parse-ip | swap-macs (default
                    no-touch; swap-macs for tx), as xdp-bench's -p
  --ports N         redirect-multi: egress devices (default 2)
  --qsize N         redirect-cpu: the cpumap entries' queue size (default 2048)
  --remote-action A redirect-cpu: disabled (no cpumap program, default) |
                    drop | pass
  --seed N          seed of the size sequence (ranges, imix; default 1)
  --no-rcu          no RCU bookkeeping (to measure its cost)
  --trace T         tracepoints: off (default, as a kernel with no tracer
                    attached), errors (xdp_exception, xdp_redirect_err),
                    runtime (the runtime's default set), all
  -e, --extended    per-CPU rows
  --capture FILE    capture in0 at XDP entry and exit into a pcapng file
                    (--capture-count N: the first N packets)
  --listen          open a control socket (--socket PATH; the path goes to
                    stderr) for xdpsim monitor, trace and map --socket
  --prog FILE.o     run a clang-compiled object's program on in0 instead of
                    the built-in one (the one named like the built-in,
                    e.g. bench_drop_parse, else the first; see
                    examples/bpf/xdp_bench.c)
  --json            the summary as one JSON object on the last line`,
  monitor: `usage: xdpsim monitor --socket PATH [--interval S] [--count N] [--json]

Attaches to a running xdpsim (xdpsim run SCENARIO --listen, or bench
--listen, prints its socket's path) and prints, every interval, like
xdp-monitor: per device the rates of received, redirected and transmitted
frames and of drops by reason; redirect errors by err value; devmap
transmits (sent, drops) per target; exceptions; per CPU, cpumap enqueues
(frames, drops: queue full) and cpumap kthreads (frames, and what their
program did: pass, drop, redirect; sched). --json: one object per
interval. --count N: stop after N intervals.`,
  dump: `usage: xdpsim dump --socket PATH -i DEVICE [-i DEVICE]... -w FILE [--rx-capture entry,exit,xmit] [-s SNAPLEN] [-c COUNT]

Like xdpdump, attached to a running xdpsim: a pcapng capture of the
devices' frames at XDP entry (the default), exit (with the verdict in each
packet's comment) and/or transmit (after the devmap program: a point
xdpdump does not have), written by the running xdpsim into FILE. Ends after
-c COUNT packets or at Ctrl-C.`,
  trace: `usage: xdpsim trace --socket PATH [--event NAME]... [--ifindex N] [--err N] [--count N]

Attaches to a running xdpsim and prints its trace records (xdp:* and
bpf_trace_printk) as pino JSON lines (pipe them into pino-pretty), those
of the given events, device and err only. Ends at --count N or Ctrl-C.`,
  run: `usage: xdpsim run SCENARIO [ARGS...] [--cpus N] [--duration S] [--interval S] [--listen [--socket PATH]] [--json]
       xdpsim run --prog FILE[:PROGRAM] [options]

With a SCENARIO file: a module whose default export is an async function
(rt, ctx) that builds devices, maps, programs and traffic with the library
API (ctx.signal fires on Ctrl-C, SIGTERM or --duration; ctx.log prints;
ctx.args are the ARGS). It runs until it returns or is interrupted, with a
line of per-device rates every --interval, then the summary and why frames
were dropped. Exits 0 when every frame was accounted for. --listen opens a
control socket (mode 0600; --socket PATH, else one in the temp directory,
printed) that xdpsim monitor, trace and map --socket attach to.

With --prog:
Loads a program object (a module exporting defineMap() maps and xdp()
programs), attaches PROGRAM (default: the first xdp program) to veth0 of a
veth pair, injects --count frames from the main thread (or generates
traffic on veth0's RX queues for --duration seconds), waits
for them to drain and prints the counters. Ctrl-C stops the traffic early.

options:
  --prog FILE[:P]  the object, and optionally which program to attach
  --peer-prog FILE[:P]  a program for veth1 (needed for XDP_TX to be received)
  --cpus N        simulated CPUs (default 2)
  --count N       frames to inject (default 1000; 0 with --duration)
  --duration S    inject for S seconds instead of a count
  --size B        frame size in bytes (default 64)
  --flows N       UDP flows (default 64)
  --queues N      RX queues per veth (default: one per CPU)
  --capture FILE  capture veth0 at XDP entry and exit into a pcapng file
                  (--capture-count N: the first N packets)
  --listen        open a control socket (--socket PATH; its path goes to stderr)
  --json          print the final stats as JSON`,
};

function int(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} ${v}: must be an integer in ${min}..${max}`);
  return n;
}

class UsageError extends Error {}

/*
 * Ctrl-C and SIGTERM, installed once per command run (main) and removed
 * after it. The first signal aborts `signal` with the signal's name as its
 * reason: the command stops its traffic, drains, prints its summary (and
 * its --json object) as at a normal end with the time actually run, closes
 * its control socket and exits 0 if every frame was accounted for. A second
 * one exits at once (130 for SIGINT, 143 for SIGTERM, as a shell reports a
 * process the signal killed), removing the control sockets the command
 * opened, synchronously: nothing else runs after it.
 */
type SignalName = 'SIGINT' | 'SIGTERM';
interface StopSignal {
  readonly signal: AbortSignal;
  /** the first signal that came, or null */
  readonly received: SignalName | null;
  /** a control socket this run opened: removed on a forced exit */
  socket(path: string): void;
  dispose(): void;
}

function stopOnSignals(cmd: string, err: Out): StopSignal {
  const ac = new AbortController();
  /* each socket with its identity when it was opened: only that one is removed, not whatever was put at its path since */
  const sockets = new Map<string, { dev: number; ino: number }>();
  let received: SignalName | null = null;
  const on = (sig: SignalName): void => {
    if (received === null) {
      received = sig;
      const what = cmd === 'monitor' || cmd === 'trace' || cmd === 'dump' ? 'detaching' : 'stopping (the traffic stops and drains, then the summary)';
      err(`xdpsim ${cmd}: ${sig}: ${what}; ${sig === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'} again exits at once`);
      ac.abort(sig);
      return;
    }
    for (const [p, id] of sockets) removeSocketSync(p, id);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  const onInt = (): void => on('SIGINT');
  const onTerm = (): void => on('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: ac.signal,
    get received() { return received; },
    socket: (p) => {
      try {
        const st = lstatSync(p);
        sockets.set(p, { dev: st.dev, ino: st.ino });
      } catch { /* not there: nothing to remove */ }
    },
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

/*
 * Remove a control socket from a signal handler that exits next (the
 * runtime cannot close it): the socket if it is still the one opened, and
 * the default path's own directory (xdpsim-PID-XXXXXX in the temp
 * directory) if that is left empty.
 */
function removeSocketSync(path: string, id: { dev: number; ino: number }): void {
  try {
    removeIfOurs(path, id);
  } catch { /* gone already */ }
  const dir = dirname(path);
  if (dirname(dir) === tmpdir() && basename(dir).startsWith(`xdpsim-${process.pid}-`)) {
    try { rmdirSync(dir); } catch { /* not empty, or gone */ }
  }
}

/** A promise that resolves when `signal` aborts (at once if it has). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((res) => {
    if (signal.aborted) res();
    else signal.addEventListener('abort', () => res(), { once: true });
  });
}

/* the line a text summary ends with after a signal */
function interruptedLine(stop: StopSignal, elapsed: number, planned?: number, what = 'traffic stopped and drained'): string {
  return `interrupted by ${stop.received} after ${elapsed.toFixed(2)} s${planned !== undefined ? ` of ${planned} s` : ''}${what ? `: ${what}` : ''}`;
}

/* open the control socket (its path to stderr) and remember it for a forced exit */
async function listenOn(rt: Runtime, listen: string | true, stop: StopSignal, say?: Out): Promise<void> {
  const c = await openControlSocket(rt, listen, say);
  stop.socket(c.path);
}

/** One line of per-second rates from two stats snapshots of a device. */
function rateLine(t: number, prev: Stats, cur: Stats, dev: string, dt: number): string {
  const p = prev.devices.find((d) => d.name === dev)!;
  const c = cur.devices.find((d) => d.name === dev)!;
  const r = (k: 'rx_packets' | 'xdp_drop' | 'xdp_pass' | 'xdp_tx' | 'xdp_aborted' | 'drops' | 'xdp_tx_err'): number => (c[k] - p[k]) / dt;
  const perCpu = c.perCpu.map((pc, i) => `cpu${i} ${fmt((pc.rx_packets - p.perCpu[i]!.rx_packets) / dt)}`).join(' ');
  return `[${t}s] ${dev}: rx ${fmt(r('rx_packets'))} pps  drop ${fmt(r('xdp_drop'))}  pass ${fmt(r('xdp_pass'))}  tx ${fmt(r('xdp_tx'))}  aborted ${fmt(r('xdp_aborted'))}  tx_err ${fmt(r('xdp_tx_err'))}  (${perCpu})`;
}

function summary(out: Out, s: Stats, seconds: number, last: Array<DropNote & { device: string }>): void {
  const t = s.totals;
  out(`summary: ${fmt(t.injected)} frames in ${seconds.toFixed(2)} s (${fmt(t.injected / seconds)} pps)`);
  for (const d of s.devices) {
    if (d.rx_packets === 0 && d.tx_packets === 0 && d.injected === 0) continue;
    out(`  ${d.name.padEnd(8)} rx ${fmt(d.rx_packets)}  xdp: drop ${fmt(d.xdp_drop)} pass ${fmt(d.xdp_pass)} tx ${fmt(d.xdp_tx)} redirect ${fmt(d.xdp_redirect)} aborted ${fmt(d.xdp_aborted)} invalid ${fmt(d.xdp_invalid)} exception ${fmt(d.xdp_exception)}  tx ${fmt(d.tx_packets)}  stack ${fmt(d.stack)}`);
    const reasons = DROP_REASONS.filter((r) => d.dropReasons[r] > 0).map((r) => `${r} ${fmt(d.dropReasons[r])}`);
    if (reasons.length) out(`           drops: ${reasons.join(', ')}`);
  }
  out(`  frames: injected ${fmt(t.injected)} = stack ${fmt(t.stack)} + transmitted out ${fmt(t.xmit_consumed)} + dropped ${fmt(t.dropped)} + in flight ${fmt(t.in_flight)}; pool ${fmt(s.pool.free)}/${fmt(s.pool.frames)} free: ${s.conserved ? 'conserved' : 'NOT CONSERVED'}`);
  for (const l of dropTable(dropRows(s, last))) out(l);
  if (captureReq !== null) out(`capture: ${captureReq.file} (pcapng; ${fmt(s.cpus.reduce((a, c) => a + c.cap_lost, 0))} copies lost to full capture rings)`);
}

/**
 * Traffic on dev's wire until `until` (ms, performance.now) or until `signal`
 * aborts: generated by the CPUs (Runtime.generate); resolves with frames sent.
 */
async function injectFor(dev: Device, until: number, size: number, flows: number, signal: AbortSignal): Promise<number> {
  if (signal.aborted) return 0;
  const gen = await dev.generate({ traffic: { size, flows }, durationMs: Math.max(1, until - performance.now()) });
  const onAbort = (): void => { gen.stop().catch(() => {}); };
  signal.addEventListener('abort', onAbort, { once: true });
  /* a signal while the generators started */
  if (signal.aborted) onAbort();
  try {
    return (await gen.done).sent;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function runTimed(out: Out, rt: Runtime, dev: Device, seconds: number, size: number, flows: number, json: boolean, stop: StopSignal): Promise<number> {
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  const injecting = injectFor(dev, until, size, flows, stop.signal);
  let prev = rt.stats();
  let prevT = t0;
  let tick = 1;
  const timer = setInterval(() => {
    const cur = rt.stats();
    const now = performance.now();
    if (!json) out(rateLine(tick++, prev, cur, dev.name, (now - prevT) / 1000));
    prev = cur;
    prevT = now;
  }, 1000);
  await injecting;
  clearInterval(timer);
  return (performance.now() - t0) / 1000;
}

function parseProgArg(v: string): { file: string; prog: string | undefined } {
  const i = v.lastIndexOf(':');
  if (i > 1 && !v.slice(i).includes('/')) return { file: v.slice(0, i), prog: v.slice(i + 1) };
  return { file: v, prog: undefined };
}

async function attachFrom(rt: Runtime, dev: Device, arg: string): Promise<void> {
  const { file, prog } = parseProgArg(arg);
  const obj = await rt.loadObject(file);
  const names = Object.keys(obj.progs);
  const name = prog ?? names.find((n) => obj.progs[n]!.section === 'xdp' || obj.progs[n]!.section === 'xdp.frags');
  const h = name === undefined ? undefined : obj.progs[name];
  if (h === undefined) throw new UsageError(`${file}: no program ${prog ?? '(xdp)'}; it has ${names.join(', ') || 'none'}`);
  dev.attachXdp(h);
}

async function demo(args: string[], out: Out, stop: StopSignal): Promise<number> {
  const { values: v } = parseArgs({ args, options: { ...COMMON, action: { type: 'string', default: 'drop' }, scenario: { type: 'string', default: 'verdict' }, ports: { type: 'string', default: '3' }, listen: { type: 'boolean', default: false }, socket: { type: 'string' }, 'xsk-mode': { type: 'string', default: 'echo' } } });
  if (v.help) return (out(HELP.demo!), 0);
  if (!['verdict', 'redirect', 'cpumap', 'xsk'].includes(v.scenario!)) throw new UsageError(`--scenario ${v.scenario}: one of verdict, redirect, cpumap, xsk`);
  if (v.scenario === 'cpumap' || v.scenario === 'xsk') {
    if (v['xsk-mode'] !== 'echo' && v['xsk-mode'] !== 'rxdrop') throw new UsageError(`--xsk-mode ${v['xsk-mode']}: echo or rxdrop`);
    captureFrom(v);
    const listen = listenOption(v);
    const s = await runBench({
      mode: v.scenario === 'cpumap' ? 'redirect-cpu' : 'redirect-xsk', cpus: int('cpus', v.cpus, 1, 64), duration: Number(v.duration),
      pktSize: int('size', v.size, 42, 3520), flows: int('flows', v.flows, 1, 65536), remoteAction: 'pass', xskMode: v['xsk-mode'] as 'echo' | 'rxdrop',
      ...(captureReq !== null ? { capture: captureReq } : {}), ...(listen !== undefined ? { listen, onListen: (p: string) => stop.socket(p) } : {}),
      signal: stop.signal,
    }, v.json ? () => {} : out);
    if (v.json) out(JSON.stringify({ scenario: v.scenario, ...s }));
    else {
      for (const l of summaryLines(s)) out(l);
      if (s.interrupted !== null) out(interruptedLine(stop, s.duration_s, Number(v.duration)));
    }
    return s.conserved && s.leaked_frames === 0 ? 0 : 1;
  }
  const cpus = int('cpus', v.cpus, 1, 64);
  const seconds = Number(v.duration);
  if (!(seconds > 0 && seconds <= 3600)) throw new UsageError(`--duration ${v.duration}: must be in (0, 3600]`);
  const size = int('size', v.size, 42, 3520);
  const flows = int('flows', v.flows, 1, 65536);
  const actions: Record<string, number> = { drop: XDP_DROP, pass: XDP_PASS, tx: XDP_TX };
  const action = actions[v.action!];
  if (action === undefined) throw new UsageError(`--action ${v.action}: one of drop, pass, tx`);

  const ports = int('ports', v.ports, 1, 16);
  captureFrom(v);
  const rt = await Runtime.start({ cpus });
  const listen = listenOption(v);
  try {
    if (listen !== undefined) await listenOn(rt, listen, stop);
    if (v.scenario === 'redirect') return await redirectDemo(rt, out, cpus, seconds, size, flows, ports, v.json!, stop);
    return await demoOn(rt, out, cpus, seconds, size, flows, action, v.json!, stop);
  } finally {
    await rt.stop();
  }
}

/** The redirect scenario's devices: in0 (ingress), out0..outN-1 whose peers outp0.. count and pass. */
async function redirectScene(rt: Runtime, ports: number): Promise<{ in0: Device; outs: Device[]; peers: Device[]; obj: BpfObject }> {
  const cpus = rt.cpus;
  const [in0] = rt.createVeth('in0', 'in0p', { rxQueues: cpus });
  const counter = await rt.loadObject(example('xdp_count.ts'));
  const outs: Device[] = [];
  const peers: Device[] = [];
  for (let i = 0; i < ports; i++) {
    const [o, p] = rt.createVeth(`out${i}`, `outp${i}`, { rxQueues: cpus }, { rxQueues: cpus });
    p.attachXdp(counter.progs.xdp_count!);
    outs.push(o);
    peers.push(p);
  }
  const obj = await rt.loadObject(example('xdp_redirect_flows.ts'));
  obj.maps.cfg!.update(0, ports);
  outs.forEach((o, i) => obj.maps.tx_ports!.update(i, o.ifindex));
  in0.attachXdp(obj.progs.xdp_redirect_flows!);
  return { in0, outs, peers, obj };
}

async function redirectDemo(rt: Runtime, out: Out, cpus: number, seconds: number, size: number, flows: number, ports: number, json: boolean, stop: StopSignal): Promise<number> {
  const { in0, peers } = await redirectScene(rt, ports);
  maybeCapture(rt, in0);
  if (!json) out(`xdpsim demo: ${cpus} CPUs (${Runtime.machineCores()} cores), in0 -> xdp_redirect_flows -> DEVMAP tx_ports -> ${peers.map((_, i) => `out${i}`).join(', ')} (peers count and pass), ${size}-byte UDP frames over ${flows} flows, ${seconds} s`);
  let prev = rt.stats();
  let prevT = performance.now();
  let tick = 1;
  const timer = setInterval(() => {
    const cur = rt.stats();
    const now = performance.now();
    const dt = (now - prevT) / 1000;
    const d = (name: string, k: 'rx_packets' | 'xdp_redirect' | 'tx_packets' | 'drops') =>
      (cur.devices.find((x) => x.name === name)![k] - prev.devices.find((x) => x.name === name)![k]) / dt;
    if (!json) out(`[${tick++}s] in0: rx ${fmt(d('in0', 'rx_packets'))} pps  redirect ${fmt(d('in0', 'xdp_redirect'))}  drops ${fmt(d('in0', 'drops'))}  |  ${peers.map((_, i) => `out${i} tx ${fmt(d(`out${i}`, 'tx_packets'))}`).join('  ')}`);
    prev = cur;
    prevT = now;
  }, 1000);
  const t0 = performance.now();
  await injectFor(in0, t0 + seconds * 1000, size, flows, stop.signal);
  clearInterval(timer);
  const elapsed = (performance.now() - t0) / 1000;
  const s = await rt.stop();
  const received = peers.map((p) => s.devices.find((d) => d.name === p.name)!.rx_packets);
  if (json) {
    out(JSON.stringify({ scenario: 'redirect', cpus, duration_s: elapsed, frames_in: s.totals.injected, rx_pps: s.totals.injected / elapsed, received, conserved: s.conserved, interrupted: stop.received, totals: s.totals, pool: s.pool }));
  } else {
    summary(out, s, elapsed, rt.lastDrops());
    if (stop.received !== null) out(interruptedLine(stop, elapsed, seconds));
  }
  return s.conserved ? 0 : 1;
}

async function demoOn(rt: Runtime, out: Out, cpus: number, seconds: number, size: number, flows: number, action: number, json: boolean, stop: StopSignal): Promise<number> {
  const [veth0, veth1] = rt.createVeth('veth0', 'veth1', { rxQueues: cpus });
  maybeCapture(rt, veth0);
  const obj = await rt.loadObject(example('xdp_count.ts'));
  obj.maps.config!.update(0, action);
  veth0.attachXdp(obj.progs.xdp_count!);
  if (action === XDP_TX) await attachFrom(rt, veth1, example('xdp_pass.ts'));
  if (!json) out(`xdpsim demo: ${cpus} CPUs (${Runtime.machineCores()} cores), veth0 <-> veth1, xdp_count on veth0 returning ${XDP_ACTION_NAMES[action]}, ${size}-byte UDP frames over ${flows} flows, ${seconds} s`);
  const elapsed = await runTimed(out, rt, veth0, seconds, size, flows, json, stop);
  const s = await rt.stop();
  const counted = obj.maps.stats!.lookupU64(0, 0);
  if (json) {
    out(JSON.stringify({ cpus, duration_s: elapsed, action: XDP_ACTION_NAMES[action], frames_in: s.totals.injected, rx_pps: s.totals.injected / elapsed, prog_counted: counted, conserved: s.conserved, interrupted: stop.received, totals: s.totals, pool: s.pool }));
  } else {
    summary(out, s, elapsed, rt.lastDrops());
    out(`  xdp_count's per-CPU map counted ${fmt(counted ?? 0)} packets`);
    if (stop.received !== null) out(interruptedLine(stop, elapsed, seconds));
  }
  return s.conserved && counted === s.devices.find((d) => d.name === 'veth0')!.rx_packets ? 0 : 1;
}

async function mapCmd(args: string[], out: Out, err: Out): Promise<number> {
  /* options come first; then commands separated by `--` */
  const opts: string[] = [];
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-') && args[i] !== '--') {
    opts.push(args[i]!);
    if (['--prog', '--scenario', '--cpus', '--ports', '--socket'].includes(args[i]!)) opts.push(args[++i] ?? '');
    i++;
  }
  const { values: v } = parseArgs({
    args: opts,
    options: {
      socket: { type: 'string' },
      prog: { type: 'string', multiple: true }, scenario: { type: 'string', default: 'redirect' },
      cpus: { type: 'string', default: '1' }, ports: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) return (out(HELP.map!), 0);
  const cmds = splitCommands(args.slice(i));
  if (cmds.length === 0) throw new UsageError('no map command (try --help)');
  if (v.socket !== undefined) {
    /* a running xdpsim's maps, through its control socket */
    const c = await ControlClient.connect(v.socket);
    try {
      for (const cmd of cmds) {
        const r = await c.request('map', { args: cmd, json: v.json });
        if (!r.ok) {
          err(`Error: ${r.error}`);
          return 1;
        }
        for (const l of r.result as string[]) out(l);
      }
      return 0;
    } finally {
      c.close();
    }
  }
  if (v.scenario !== 'redirect' && v.scenario !== 'none') throw new UsageError(`--scenario ${v.scenario}: redirect or none`);
  const rt = await Runtime.start({ cpus: int('cpus', v.cpus, 1, 64) });
  try {
    const scene: MapScene = { rt, maps: new Map(), progs: new Map() };
    if (v.scenario === 'redirect') {
      const { obj } = await redirectScene(rt, int('ports', v.ports, 1, 16));
      for (const [n, m] of Object.entries(obj.maps)) scene.maps.set(n, m);
      for (const [n, p] of Object.entries(obj.progs)) scene.progs.set(n, p);
    }
    for (const f of v.prog ?? []) {
      const obj = await rt.loadObject(f);
      for (const [n, m] of Object.entries(obj.maps)) scene.maps.set(n, m);
      for (const [n, p] of Object.entries(obj.progs)) scene.progs.set(n, p);
    }
    for (const c of cmds) {
      try {
        runMapCommand(scene, c, v.json!, out);
      } catch (e) {
        if (e instanceof MapCmdError || e instanceof XdpsimError) {
          err(`Error: ${e.message}`);
          return 1;
        }
        throw e;
      }
    }
    return 0;
  } finally {
    await rt.stop();
  }
}

async function torture(args: string[], out: Out, stop: StopSignal): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      cpus: { type: 'string', default: '2' }, duration: { type: 'string', default: '5' },
      seed: { type: 'string' }, rate: { type: 'string', default: '2000' }, interval: { type: 'string', default: '1' },
      targets: { type: 'string', default: '3' }, inject: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
      listen: { type: 'boolean', default: false }, socket: { type: 'string' },
    },
  });
  if (v.help) return (out(HELP.torture!), 0);
  const seconds = Number(v.duration);
  if (!(seconds > 0 && seconds <= 3600)) throw new UsageError(`--duration ${v.duration}: must be in (0, 3600]`);
  const seed = v.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', v.seed, 0, 2 ** 32 - 1);
  const inject = (v.inject ?? []) as Array<RcuFault | TortureFault>;
  const faults: readonly string[] = [...RCU_FAULTS, ...TORTURE_FAULTS];
  for (const f of inject) if (!faults.includes(f)) throw new UsageError(`--inject ${f}: one of ${faults.join(', ')}`);
  const interval = Number(v.interval);
  if (!(interval >= 0)) throw new UsageError(`--interval ${v.interval}: seconds, 0 for no status lines`);
  const listen = listenOption(v);
  const o = {
    cpus: int('cpus', v.cpus, 1, 64), durationS: seconds, seed, rate: int('rate', v.rate, 1, 1_000_000),
    intervalS: v.json ? 0 : interval, targets: int('targets', v.targets, 1, 16), inject,
    ...(listen !== undefined ? { listen, onListen: (p: string) => stop.socket(p) } : {}),
    signal: stop.signal,
  };
  if (!v.json) out(`xdpsim torture: seed ${seed}, ${o.cpus} CPUs, ${o.targets} targets, ${o.rate} updates/s, ${seconds} s${inject.length ? `, injected: ${inject.join(', ')}` : ''}`);
  const s = await runTorture(o, out);
  if (v.json) {
    out(JSON.stringify(s));
  } else {
    out(`summary: ${s.ok ? 'OK' : 'FAILED'}  seed ${s.seed}  ${s.duration_s.toFixed(2)} s`);
    out(`  grace periods ${fmt(s.grace_periods)} (latency p50 ${s.gp_latency_p50_us.toFixed(1)} us, p99 ${s.gp_latency_p99_us.toFixed(1)} us)  updates ${fmt(s.updates)}  unregisters ${s.unregisters}`);
    out(`  frames in ${fmt(s.frames_in)}  out ${fmt(s.frames_out)}  leaked ${s.leaked_frames}  drops ${Object.entries(s.drops).map(([r, n]) => `${r} ${fmt(n)}`).join(', ') || 'none'}`);
    out(`  pipeline (records readers held, by grace periods past retirement): ${s.pipeline.map((n, i) => `${i === 3 ? '3+' : i}: ${fmt(n)}`).join('  ')}  checked ${fmt(s.records_checked)}  violations ${s.violations}`);
    const errs = Object.entries(s.writer_errors);
    const expected = (c: string, n: number): number => n - (s.writer_errors_unexpected[c] ?? 0);
    out(`  writer errors: ${errs.map(([c, n]) => `${c} ${fmt(n)}${expected(c, n) > 0 ? ` (${fmt(expected(c, n))} expected: the target was being unregistered)` : ''}`).join(', ') || 'none'}  unexpected: ${Object.entries(s.writer_errors_unexpected).map(([c, n]) => `${c} ${fmt(n)}`).join(', ') || 'none'}`);
    const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
    out(`  rss: start ${mb(s.rss_bytes.start)} MB  peak ${mb(s.rss_bytes.peak)} MB  end ${mb(s.rss_bytes.end)} MB`);
    for (const f of s.failures) out(`  FAILED: ${f}`);
    if (s.interrupted !== null) out(interruptedLine(stop, s.duration_s, seconds, ''));
  }
  return s.ok ? 0 : 1;
}

function sizeSpec(v: string): SizeSpec {
  if (v === 'imix') return 'imix';
  const m = /^(\d+)-(\d+)$/.exec(v);
  if (m) return { min: Number(m[1]), max: Number(m[2]) };
  return int('pkt-size', v, 1, 1 << 16);
}

async function bench(args: string[], out: Out, stop: StopSignal): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      cpus: { type: 'string', default: '1' }, duration: { type: 'string', default: '5' }, interval: { type: 'string', default: '1' },
      'pkt-size': { type: 'string' }, flows: { type: 'string' }, rate: { type: 'string', default: '0' },
      'bulk-size': { type: 'string', default: '16' }, seed: { type: 'string', default: '1' }, 'packet-operation': { type: 'string', short: 'p' },
      ports: { type: 'string', default: '2' }, l3: { type: 'string', default: 'ipv4' }, l4: { type: 'string', default: 'udp' },
      vlan: { type: 'string' }, 'no-rcu': { type: 'boolean', default: false }, trace: { type: 'string', default: 'off' },
      replay: { type: 'string' }, paced: { type: 'boolean', default: false }, loops: { type: 'string' },
      'src-ip': { type: 'string' }, 'dst-ip': { type: 'string' }, 'src-ips': { type: 'string' }, 'dst-ips': { type: 'string' },
      'src-port': { type: 'string' }, 'dst-port': { type: 'string' }, 'src-ports': { type: 'string' }, 'dst-ports': { type: 'string' }, extended: { type: 'boolean', short: 'e', default: false },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false }, ...CAPTURE_OPTS,
      listen: { type: 'boolean', default: false }, socket: { type: 'string' }, prog: { type: 'string' },
      qsize: { type: 'string', default: '2048' }, 'remote-action': { type: 'string', default: 'disabled' },
    },
  });
  if (v.help) return (out(HELP.bench!), 0);
  if (!REMOTE_ACTIONS.includes(v['remote-action'] as RemoteAction)) throw new UsageError(`--remote-action ${v['remote-action']}: one of ${REMOTE_ACTIONS.join(', ')}`);
  captureFrom(v);
  const mode = positionals[0];
  if (positionals.length !== 1 || !BENCH_MODES.includes(mode as BenchMode)) throw new UsageError(`MODE: one of ${BENCH_MODES.join(', ')}`);
  const duration = Number(v.duration);
  if (!(duration > 0 && duration <= 3600)) throw new UsageError(`--duration ${v.duration}: must be in (0, 3600]`);
  const interval = Number(v.interval);
  if (!(interval >= 0 && interval <= 3600)) throw new UsageError(`--interval ${v.interval}: must be in [0, 3600]`);
  const op = v['packet-operation'];
  if (op !== undefined && !PACKET_OPS.includes(op as PacketOp)) throw new UsageError(`--packet-operation ${op}: one of ${PACKET_OPS.join(', ')}`);
  if (v.l3 !== 'ipv4' && v.l3 !== 'ipv6') throw new UsageError(`--l3 ${v.l3}: ipv4 or ipv6`);
  if (v.l4 !== 'udp' && v.l4 !== 'tcp-syn') throw new UsageError(`--l4 ${v.l4}: udp or tcp-syn`);
  const size = v['pkt-size'] === undefined ? undefined : sizeSpec(v['pkt-size']);
  const tracing = v.trace as BenchOptions['tracing'];
  if (!['off', 'errors', 'runtime', 'all'].includes(v.trace!)) throw new UsageError(`--trace ${v.trace}: one of off, errors, runtime, all`);
  const listen = listenOption(v);
  const o: BenchOptions = {
    ...(captureReq !== null ? { capture: captureReq } : {}),
    ...(listen !== undefined ? { listen, onListen: (p: string) => stop.socket(p) } : {}),
    signal: stop.signal,
    tracing, ...(v.replay !== undefined ? { replay: v.replay, paced: v.paced!, ...(v.loops !== undefined ? { loops: int('loops', v.loops, 1, 1e9) } : {}) } : {}),
    mode: mode as BenchMode, cpus: int('cpus', v.cpus, 1, 64), duration, interval,
    ...(typeof size === 'number' ? { pktSize: size } : {}), ...(v.flows !== undefined ? { flows: int('flows', v.flows, 1, 1 << 20) } : {}),
    bulkSize: int('bulk-size', v['bulk-size'], 1, 16), seed: int('seed', v.seed, 0, 2 ** 31 - 1),
    rate: int('rate', v.rate, 0, 1e9), ports: int('ports', v.ports, 1, 32), extended: v.extended!, rcu: !v['no-rcu'],
    qsize: int('qsize', v.qsize, 1, 16384), remoteAction: v['remote-action'] as RemoteAction,
    traffic: {
      ...(size !== undefined ? { size } : {}), l3: v.l3, l4: v.l4, ...(v.vlan !== undefined ? { vlan: int('vlan', v.vlan, 0, 4095) } : {}),
      ...(v['src-ip'] !== undefined ? { srcIp: v['src-ip'] } : {}), ...(v['dst-ip'] !== undefined ? { dstIp: v['dst-ip'] } : {}),
      ...(v['src-ips'] !== undefined ? { srcIps: int('src-ips', v['src-ips'], 1, 1 << 24) } : {}),
      ...(v['dst-ips'] !== undefined ? { dstIps: int('dst-ips', v['dst-ips'], 1, 1 << 24) } : {}),
      ...(v['src-port'] !== undefined ? { srcPort: int('src-port', v['src-port'], 0, 65535) } : {}),
      ...(v['dst-port'] !== undefined ? { dstPort: int('dst-port', v['dst-port'], 0, 65535) } : {}),
      ...(v['src-ports'] !== undefined ? { srcPorts: int('src-ports', v['src-ports'], 1, 65536) } : {}),
      ...(v['dst-ports'] !== undefined ? { dstPorts: int('dst-ports', v['dst-ports'], 1, 65536) } : {}),
    },
    ...(op !== undefined ? { op: op as PacketOp } : {}),
    ...(v.prog !== undefined ? { prog: v.prog } : {}),
  };
  let s: BenchSummary;
  try {
    s = await runBench(o, v.json ? () => {} : out);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  if (v.json) out(JSON.stringify(s));
  else {
    for (const l of summaryLines(s)) out(l);
    if (captureReq !== null) out(`capture: ${captureReq.file} (pcapng)`);
    if (s.interrupted !== null) out(interruptedLine(stop, s.duration_s, duration, 'the figures are over the time run'));
  }
  return s.conserved ? 0 : 1;
}

async function run(args: string[], out: Out, stop: StopSignal): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      ...COMMON, duration: { type: 'string' }, count: { type: 'string', default: '1000' },
      prog: { type: 'string' }, 'peer-prog': { type: 'string' }, queues: { type: 'string' }, interval: { type: 'string', default: '1' },
      listen: { type: 'boolean', default: false }, socket: { type: 'string' },
    },
  });
  if (v.help) return (out(HELP.run!), 0);
  if (positionals.length > 0) {
    if (v.prog) throw new UsageError('a scenario FILE and --prog exclude each other');
    for (const k of ['peer-prog', 'queues'] as const) if (v[k] !== undefined) throw new UsageError(`--${k}: for --prog runs only (a scenario builds its own devices)`);
    let seconds: number | undefined;
    if (v.duration !== undefined) {
      seconds = Number(v.duration);
      if (!(seconds > 0 && seconds <= 86400)) throw new UsageError(`--duration ${v.duration}: must be in (0, 86400]`);
    }
    const interval = Number(v.interval);
    if (!(interval >= 0 && interval <= 3600)) throw new UsageError(`--interval ${v.interval}: must be in [0, 3600]`);
    captureFrom(v);
    if (captureReq !== null) throw new UsageError('--capture: a scenario starts its own captures (rt.startCapture)');
    const listen = listenOption(v);
    return await runScenario(out, positionals[0]!, positionals.slice(1), int('cpus', v.cpus, 1, 64), seconds, interval, v.json!, stop, listen);
  }
  if (!v.prog) throw new UsageError('--prog FILE (or a scenario FILE) is required');
  const cpus = int('cpus', v.cpus, 1, 64);
  const size = int('size', v.size, 42, 3520);
  const flows = int('flows', v.flows, 1, 65536);
  const count = int('count', v.count, 0, 1e9);
  const queues = v.queues === undefined ? cpus : int('queues', v.queues, 1, 64);
  let seconds: number | undefined;
  if (v.duration !== undefined) {
    seconds = Number(v.duration);
    if (!(seconds > 0 && seconds <= 3600)) throw new UsageError(`--duration ${v.duration}: must be in (0, 3600]`);
  }
  captureFrom(v);
  const listen = listenOption(v);
  const rt = await Runtime.start({ cpus });
  try {
    return await runOn(rt, out, v.prog, v['peer-prog'], queues, seconds, count, size, flows, v.json!, stop, listen);
  } finally {
    await rt.stop();
  }
}

/*
 * xdpsim run FILE: a scenario module's default export, called with the
 * runtime and a context (an AbortSignal that fires on SIGINT/SIGTERM or at
 * --duration, a log function, the arguments after FILE). A line of
 * progress every --interval: the rates of every device that received or
 * dropped frames. At the end (the scenario returned, or was interrupted)
 * the runtime stops and the summary and drop table are printed.
 */
async function runScenario(out: Out, file: string, args: string[], cpus: number, seconds: number | undefined, interval: number, json: boolean, stop: StopSignal, listen?: string | true): Promise<number> {
  const mod = (await import(pathToFileURL(resolvePath(file)).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') throw new UsageError(`${file}: a scenario exports a default async function (rt, ctx)`);
  const scenario = mod.default as Scenario;
  const rt = await Runtime.start({ cpus });
  /* the path on a line of its own (stderr with --json, so stdout stays one object) */
  if (listen !== undefined) {
    try {
      await listenOn(rt, listen, stop, json ? undefined : out);
    } catch (e) {
      await rt.stop();
      throw e;
    }
  }
  const ac = new AbortController();
  /* the first signal asks the scenario to end (a second one exits at once: stopOnSignals) */
  const onSignal = (): void => {
    if (!ac.signal.aborted) ac.abort(new Error('interrupted'));
  };
  stop.signal.addEventListener('abort', onSignal, { once: true });
  if (stop.signal.aborted) onSignal();
  const timer = seconds !== undefined ? setTimeout(() => ac.abort(new Error('duration reached')), seconds * 1000) : null;
  const t0 = performance.now();
  let prev = rt.stats();
  let prevT = t0;
  const ticker = interval > 0 && !json ? setInterval(() => {
    const cur = rt.stats();
    const now = performance.now();
    const dt = (now - prevT) / 1000;
    const parts: string[] = [];
    for (const d of cur.devices) {
      const p = prev.devices.find((x) => x.ifindex === d.ifindex);
      const rx = (d.rx_packets - (p?.rx_packets ?? 0)) / dt;
      const tx = (d.tx_packets - (p?.tx_packets ?? 0)) / dt;
      const dr = (d.drops - (p?.drops ?? 0)) / dt;
      if (rx > 0 || tx > 0 || dr > 0) parts.push(`${d.name}: rx ${fmt(rx)} tx ${fmt(tx)} drop ${fmt(dr)}`);
    }
    out(`[${((now - t0) / 1000).toFixed(1)}s] ${parts.join('  |  ') || 'idle'}`);
    prev = cur;
    prevT = now;
  }, interval * 1000) : null;
  let failed: unknown = null;
  let abandoned = false;
  const running = scenario(rt, { signal: ac.signal, args, log: (msg: string) => { if (!json) out(msg); } });
  /* a scenario that does not end within ABANDON_MS of the abort (it ignores ctx.signal) is left behind: stop() ends its traffic */
  const ABANDON_MS = 2000;
  const abandon = new Promise<'abandoned'>((res) => {
    ac.signal.addEventListener('abort', () => setTimeout(() => res('abandoned'), ABANDON_MS).unref(), { once: true });
  });
  try {
    if ((await Promise.race([running, abandon])) === 'abandoned') {
      abandoned = true;
      running.catch(() => {});
    }
  } catch (e) {
    failed = e;
  } finally {
    if (ticker) clearInterval(ticker);
    if (timer) clearTimeout(timer);
  }
  const elapsed = (performance.now() - t0) / 1000;
  const s = await rt.stop();
  stop.signal.removeEventListener('abort', onSignal);
  const last = rt.lastDrops();
  const why = ac.signal.aborted ? String((ac.signal.reason as Error).message) : 'done';
  const ended = failed ? `failed: ${(failed as Error)?.message ?? String(failed)}` : abandoned ? `${why}; the scenario did not return within ${ABANDON_MS} ms and was left behind` : why;
  if (json) out(JSON.stringify({ scenario: file, ended, interrupted: stop.received, duration_s: elapsed, stats: s }));
  else {
    out(`${file}: ${ended}`);
    summary(out, s, elapsed, last);
  }
  if (failed) return 1;
  return s.conserved ? 0 : 1;
}

async function runOn(rt: Runtime, out: Out, prog: string, peerProg: string | undefined, queues: number,
  seconds: number | undefined, count: number, size: number, flows: number, json: boolean, stop: StopSignal, listen?: string | true): Promise<number> {
  const [veth0, veth1] = rt.createVeth('veth0', 'veth1', { rxQueues: queues });
  maybeCapture(rt, veth0);
  await attachFrom(rt, veth0, prog);
  if (peerProg) await attachFrom(rt, veth1, peerProg);
  if (listen !== undefined) await listenOn(rt, listen, stop);
  const t0 = performance.now();
  if (seconds !== undefined) {
    await runTimed(out, rt, veth0, seconds, size, flows, json, stop);
  } else if (!stop.signal.aborted) {
    /* a signal ends the injection: stop() below stops it at its next batch, and drains */
    const injecting = veth0.inject({ count, size, flows });
    injecting.catch(() => {});
    await Promise.race([injecting, aborted(stop.signal)]);
  }
  const s = await rt.stop();
  const elapsed = (performance.now() - t0) / 1000;
  if (json) out(JSON.stringify({ ...s, interrupted: stop.received }));
  else {
    summary(out, s, elapsed, rt.lastDrops());
    if (stop.received !== null) out(interruptedLine(stop, elapsed, seconds));
  }
  return s.conserved ? 0 : 1;
}

/*
 * xdpsim monitor --socket PATH: xdp-monitor for a running xdpsim. Every
 * interval, per device: received, redirected, transmitted, drops by
 * reason; redirect errors by err, devmap transmits (sent, drops) and
 * exceptions from the trace records; --json one object per interval.
 */
async function monitor(args: string[], out: Out, stop: StopSignal): Promise<number> {
  const { values: v } = parseArgs({ args, options: {
    socket: { type: 'string' }, interval: { type: 'string', default: '1' }, count: { type: 'string' },
    json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
  } });
  if (v.help) return (out(HELP.monitor!), 0);
  if (v.socket === undefined) throw new UsageError('--socket PATH is required (the path a running xdpsim printed)');
  const interval = Number(v.interval);
  if (!(interval > 0 && interval <= 3600)) throw new UsageError(`--interval ${v.interval}: must be in (0, 3600]`);
  const count = v.count === undefined ? Infinity : int('count', v.count, 1, 1e9);
  const c = await ControlClient.connect(v.socket);
  const errs = new Map<string, number>();
  const xmit = new Map<string, { sent: number; drops: number }>();
  const exc = new Map<string, number>();
  c.onTrace = (e) => {
    if (e.event === 'xdp_redirect_err') errs.set(`${e.ifindex}:${e.err}`, (errs.get(`${e.ifindex}:${e.err}`) ?? 0) + 1);
    else if (e.event === 'xdp_devmap_xmit') {
      const k = String(e.to_ifindex);
      const x = xmit.get(k) ?? { sent: 0, drops: 0 };
      x.sent += Number(e.sent);
      x.drops += Number(e.drops);
      xmit.set(k, x);
    } else if (e.event === 'xdp_exception') exc.set(`${e.ifindex}:${e.act_name}`, (exc.get(`${e.ifindex}:${e.act_name}`) ?? 0) + 1);
  };
  try {
    const sub = await c.request('trace', { filter: { events: ['xdp_redirect_err', 'xdp_devmap_xmit', 'xdp_exception'] } });
    if (!sub.ok) throw new XdpsimError(EINVAL, `monitor: ${sub.error}`);
    let prev = (await c.request('stats')).result as Stats;
    let prevT = performance.now();
    for (let n = 0; n < count && !stop.signal.aborted; n++) {
      /* Ctrl-C ends the wait, and the run (status 0) */
      let wake: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([new Promise((r) => { wake = setTimeout(r, interval * 1000); }), aborted(stop.signal)]);
      clearTimeout(wake);
      if (stop.signal.aborted) break;
      const cur = (await c.request('stats')).result as Stats;
      const now = performance.now();
      const dt = (now - prevT) / 1000;
      const name = (ix: string | number): string => cur.devices.find((d) => d.ifindex === Number(ix))?.name ?? `ifindex ${ix}`;
      const rows = cur.devices.map((d) => {
        const p = prev.devices.find((x) => x.ifindex === d.ifindex);
        const rate = (k: 'rx_packets' | 'xdp_redirect' | 'tx_packets'): number => (d[k] - (p?.[k] ?? 0)) / dt;
        const drops = Object.fromEntries(Object.entries(d.dropReasons).map(([r, x]) => [r, (x - (p?.dropReasons[r as keyof typeof d.dropReasons] ?? 0)) / dt]).filter(([, x]) => (x as number) > 0));
        return { device: d.name, rx_pps: rate('rx_packets'), redirect_pps: rate('xdp_redirect'), tx_pps: rate('tx_packets'), drops_pps: drops };
      }).filter((r) => r.rx_pps > 0 || r.tx_pps > 0 || Object.keys(r.drops_pps).length > 0);
      const redirectErr = [...errs].map(([k, x]) => ({ device: name(k.split(':')[0]!), err: Number(k.split(':')[1]), pps: x / dt }));
      const devmapXmit = [...xmit].map(([k, x]) => ({ device: name(k), sent_pps: x.sent / dt, drops_pps: x.drops / dt }));
      const exceptions = [...exc].map(([k, x]) => ({ device: name(k.split(':')[0]!), act: k.split(':')[1], pps: x / dt }));
      /* xdp-monitor's cpumap-enqueue and cpumap-kthread lines: per CPU, from the sums of the two tracepoints' fields */
      const cpumap = cur.cpus.map((cc, i) => {
        const a = prev.cpus[i]!.cpumap;
        const b = cc.cpumap;
        return {
          cpu: cc.cpu, enqueue_pps: (b.enqueued - a.enqueued) / dt, enqueue_drops_pps: (b.enqueue_drops - a.enqueue_drops) / dt,
          kthread_pps: (b.kthread_processed - a.kthread_processed) / dt, pass_pps: (b.kthread_pass - a.kthread_pass) / dt,
          drop_pps: (b.kthread_drop - a.kthread_drop) / dt, redirect_pps: (b.kthread_redirect - a.kthread_redirect) / dt,
          sched_ps: (b.kthread_sched - a.kthread_sched) / dt,
        };
      }).filter((x) => x.enqueue_pps > 0 || x.kthread_pps > 0);
      errs.clear();
      xmit.clear();
      exc.clear();
      if (v.json) {
        out(JSON.stringify({ t: n + 1, interval_s: dt, devices: rows, redirect_err: redirectErr, devmap_xmit: devmapXmit, exceptions, cpumap }));
      } else {
        out(`[${n + 1}] ${rows.map((r) => `${r.device}: rx ${fmt(r.rx_pps)}/s redirect ${fmt(r.redirect_pps)}/s tx ${fmt(r.tx_pps)}/s${Object.keys(r.drops_pps).length ? ` drops ${Object.entries(r.drops_pps).map(([k, x]) => `${k} ${fmt(x as number)}/s`).join(' ')}` : ''}`).join('  |  ') || 'idle'}`);
        for (const e of redirectErr) out(`    redirect_err  ${e.device}  err ${e.err}  ${fmt(e.pps)}/s`);
        for (const x of devmapXmit) out(`    devmap_xmit   ${x.device}  sent ${fmt(x.sent_pps)}/s  drops ${fmt(x.drops_pps)}/s`);
        for (const e of exceptions) out(`    exception     ${e.device}  ${e.act}  ${fmt(e.pps)}/s`);
        for (const x of cpumap) {
          if (x.enqueue_pps > 0) out(`    cpumap_enqueue  cpu ${x.cpu}  ${fmt(x.enqueue_pps)}/s  drops ${fmt(x.enqueue_drops_pps)}/s`);
          if (x.kthread_pps > 0) out(`    cpumap_kthread  cpu ${x.cpu}  ${fmt(x.kthread_pps)}/s  pass ${fmt(x.pass_pps)}/s  drop ${fmt(x.drop_pps)}/s  redirect ${fmt(x.redirect_pps)}/s  sched ${fmt(x.sched_ps)}/s`);
        }
      }
      prev = cur;
      prevT = now;
    }
    return 0;
  } finally {
    c.close();
  }
}

/* xdpsim dump --socket PATH -i DEV -w FILE: xdpdump for a running xdpsim (pcapng at entry, exit, xmit) */
async function dump(args: string[], out: Out, err: Out, stop: StopSignal): Promise<number> {
  const { values: v } = parseArgs({ args, options: {
    socket: { type: 'string' }, interface: { type: 'string', short: 'i', multiple: true }, write: { type: 'string', short: 'w' },
    'rx-capture': { type: 'string', default: 'entry' }, snaplen: { type: 'string', short: 's' }, count: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h', default: false },
  } });
  if (v.help) return (out(HELP.dump!), 0);
  if (v.socket === undefined) throw new UsageError('--socket PATH is required (the path a running xdpsim printed)');
  if (!v.interface?.length) throw new UsageError('-i DEVICE is required (repeatable)');
  if (v.write === undefined) throw new UsageError('-w FILE is required (a pcapng file)');
  const points = v['rx-capture']!.split(',');
  for (const p of points) if (!['entry', 'exit', 'xmit'].includes(p)) throw new UsageError(`--rx-capture ${p}: entry, exit, xmit (comma-separated)`);
  const c = await ControlClient.connect(v.socket);
  const done = new Promise<{ ok: boolean; result?: unknown; error?: string }>((res) => { c.onLate = res; });
  const r = await c.request('capture', {
    devices: v.interface, file: resolvePath(v.write), points,
    ...(v.snaplen !== undefined ? { snapLen: int('snaplen', v.snaplen, 1, 262144) } : {}),
    ...(v.count !== undefined ? { count: int('count', v.count, 1, 1e9) } : {}),
  });
  if (!r.ok) {
    c.close();
    err(`xdpsim dump: ${r.error}`);
    return 1;
  }
  err(`listening on ${v.interface.join(', ')} at ${points.join(', ')}, writing ${v.write}; Ctrl-C to stop`);
  const onInt = (): void => c.close();
  stop.signal.addEventListener('abort', onInt, { once: true });
  const end = await Promise.race([done, new Promise<null>((res) => c.onClose(() => res(null)))]);
  stop.signal.removeEventListener('abort', onInt);
  c.close();
  const res = end?.result as { packets?: number; lost?: number } | undefined;
  err(res ? `${res.packets} packets written, ${res.lost} lost to full capture rings` : 'stopped');
  return 0;
}

/* xdpsim trace --socket PATH: the running xdpsim's trace records as JSON lines (pino-pretty reads them) */
async function traceCmd(args: string[], out: Out, err: Out, stop: StopSignal): Promise<number> {
  const { values: v } = parseArgs({ args, options: {
    socket: { type: 'string' }, event: { type: 'string', multiple: true }, ifindex: { type: 'string' }, err: { type: 'string' },
    count: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
  } });
  if (v.help) return (out(HELP.trace!), 0);
  if (v.socket === undefined) throw new UsageError('--socket PATH is required (the path a running xdpsim printed)');
  const count = v.count === undefined ? Infinity : int('count', v.count, 1, 1e9);
  const filter = {
    ...(v.event ? { events: v.event } : {}), ...(v.ifindex !== undefined ? { ifindex: int('ifindex', v.ifindex, 1, 1 << 20) } : {}),
    ...(v.err !== undefined ? { err: int('err', v.err, -4095, 0) } : {}),
  };
  const c = await ControlClient.connect(v.socket);
  let n = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => { done = r; });
  c.onTrace = (e) => {
    if (n >= count) return;
    out(JSON.stringify({ level: 30, time: Date.now(), msg: e.event, ...e }));
    if (++n >= count) done();
  };
  /* the server dropped records while this reader was behind (perf's PERF_RECORD_LOST) */
  c.onLost = (lost) => err(`xdpsim trace: ${lost} records lost (this reader fell behind)`);
  const r = await c.request('trace', { filter });
  if (!r.ok) throw new XdpsimError(EINVAL, `trace: ${r.error}`);
  stop.signal.addEventListener('abort', done, { once: true });
  await finished;
  stop.signal.removeEventListener('abort', done);
  c.close();
  return 0;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[], out: Out = (s) => console.log(s), err: Out = (s) => console.error(s)): Promise<number> {
  const [cmd, ...rest] = argv;
  captureReq = null;
  /* the commands that run until their traffic ends: a signal stops them cleanly (stopOnSignals) */
  const stop = cmd === 'demo' || cmd === 'run' || cmd === 'torture' || cmd === 'bench' || cmd === 'monitor' || cmd === 'trace' || cmd === 'dump' ? stopOnSignals(cmd, err) : null;
  try {
    switch (cmd) {
      case 'demo': return await demo(rest, out, stop!);
      case 'run': return await run(rest, out, stop!);
      case 'map': return await mapCmd(rest, out, err);
      case 'torture': return await torture(rest, out, stop!);
      case 'bench': return await bench(rest, out, stop!);
      case 'monitor': return await monitor(rest, out, stop!);
      case 'trace': return await traceCmd(rest, out, err, stop!);
      case 'dump': return await dump(rest, out, err, stop!);
      case undefined: case '--help': case '-h': case 'help':
        out(HELP.main!);
        return cmd === undefined ? 2 : 0;
      default:
        err(`xdpsim: unknown command '${cmd}'\n${HELP.main}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`xdpsim ${cmd}: ${(e as Error).message}`);
      return 2;
    }
    if (e instanceof XdpsimError) {
      err(`xdpsim ${cmd}: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    stop?.dispose();
  }
}
