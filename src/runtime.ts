/*
 * The control plane: user space of the simulated machine (the kernel's
 * bpf(2) and rtnetlink callers, the trace reader, the stats reader). Runs on
 * the main thread. It creates the shared state, starts one worker per
 * simulated CPU, owns the device registry, loads program objects, injects
 * traffic, collects trace records and tap copies, and reads counters.
 *
 * Concurrency: the control plane is the only writer of the device and RX
 * queue tables and of each map's creation; it talks to CPUs through shared
 * memory (doorbells, the tables) and, for program loading and tracepoint
 * switches, through comlink calls (control plane only, never per frame).
 */
import { EventEmitter } from 'node:events';
import { pathToFileURL } from 'node:url';
import { resolve as resolvePath } from 'node:path';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { Logger } from 'pino';
import {
  CC_BELL, CC_RXQ_SEEN, CC_SLEEPING, CC_STATE, CC_WORDS, CS_STOP, CS_STOPPED, DEFAULT_LIMITS, DEVICE_KIND_NAMES, DS_UP, DT_FEATURES,
  DT_HARD_HEADER_LEN, DT_KIND, DT_MTU, DT_PROG, DT_STATE, createSharedState, makeClock, readExcNote, type RuntimeLimits, type SharedState,
} from './shared/layout.ts';
import {
  FM_FLAGS, FM_INGRESS, FM_STATE, FM_WORDS, FRAME_FLAG_IS_FRAG, FS_GEN, FS_USED, FramePool, countFragFramesInUse, countFreeFrames, countFramesInUse,
} from './shared/frame-pool.ts';
import {
  CPU_BAD_FREES, CPU_CPUMAP_ENQ, CPU_CPUMAP_ENQ_DROPS, CPU_CPUMAP_KT_DROP, CPU_CPUMAP_KT_PASS, CPU_CPUMAP_KT_PROCESSED, CPU_CPUMAP_KT_REDIRECT, CPU_CPUMAP_KT_SCHED, CPU_FLUSHES, CPU_GP_VIOLATIONS, CPU_PIPE, CPU_POLLS, CPU_POLL_DEV, CPU_PROG_UAF, CPU_ROUNDS, CPU_QS_PENDING, CPU_RCU_CHECKED, CPU_QS, CPU_SLEEPS, CPU_TAP_LOST, CPU_CAP_LOST, CPU_TRACE_LOST, CPU_WAKEUPS,
  DEV_COUNTER_NAMES, DEV_FIXED, DROP_REASONS, DR_CPU_DEAD, DR_SHUTDOWN, DR_UNREGISTERED, countDrops, cpuCounters, devRow,
  type DevCounterName, type DropReason,
} from './shared/counters.ts';
import { MAIN_EVENTS, PrintkRing, TP_COUNT, TP_NAMES, TraceReader, traceRingBytes, type TraceEvent, type TracepointName } from './shared/trace.ts';
import { TapRing, tapRingBytes, type TapPacket } from './shared/tap.ts';
import { EBADF, EBUSY, EINVAL, EOPNOTSUPP, ENODEV, ESRCH, XdpsimError } from './shared/errno.ts';
import { guardApi } from './shared/api-guard.ts';
import { NetDevices } from './driver/netdev.ts';
import { DeviceRegistry, type DeviceInfo, type DeviceOptions } from './driver/registry.ts';
import { TrafficSource, type InjectOptions, type InjectResult } from './driver/source.ts';
import { createMapShared, objName, openMap, type MapShared } from './maps/map.ts';
import { DevMap, type DevmapControl } from './maps/devmap.ts';
import { CS_STOPPING as CPUMAP_CS_STOPPING, CpuMap } from './maps/cpumap.ts';
import { XskMap } from './maps/xskmap.ts';
import { Umem } from './xsk/umem.ts';
import {
  XDP_COPY, XDP_SHARED_UMEM, XDP_USE_NEED_WAKEUP, XDP_USE_SG, XDP_ZEROCOPY, XS_BOUND, XS_CLOSED, XSK_RING_DEFAULT,
  XS_UNBOUND, XW_FLAGS, XW_IFINDEX, XW_QUEUE_ID, XW_RXQ, XW_STATE, XW_TX_KICK, XW_WORDS, XdpSocketView, ringShared, type XskShared,
} from './xsk/socket.ts';
import { RCU_FAULTS, Rcu, type RcuFault, type RcuStats } from './shared/rcu.ts';
import { MapHandle } from './maps/handle.ts';
import { isMapDef, isProgDef, type XdpSection } from './cpu/program.ts';
import type { CpuApi } from './cpu/worker.ts';
import { Generation, planGeneration, type GenerateOptions } from './gen/generate.ts';
import { VLAN_HLEN } from './shared/uapi.ts';
import { readDropNotes, type DropNote } from './shared/dropnote.ts';
import { CaptureRing } from './shared/capring.ts';
import { Capture, pointBits, type CaptureOptions, type CaptureResult } from './capture.ts';
import { ControlServer, type ControlOptions } from './control.ts';
import { createBpfMaps, isBpfObjectPath, prepareBpfObjectFile } from './bpf/load.ts';
import { workerBundle } from './cpu/bundle.ts';

export interface RuntimeOptions extends Partial<Omit<RuntimeLimits, 'cpus'>> {
  /** simulated CPUs (default 2); may exceed the machine's cores */
  cpus?: number;
  /** a pino logger: trace records are logged to it as JSON lines */
  logger?: Logger;
  /** keep the last N trace records in memory for traceEvents() (default 65536) */
  traceKeep?: number;
  /** how long stop() waits for traffic to drain before purging rings (ms, default 2000) */
  drainTimeoutMs?: number;
  /** how long stop() waits for a CPU to leave its poll before terminating its thread (ms, default 5000) */
  stopTimeoutMs?: number;
  /**
   * Each CPU worker's JavaScript heap (MB, default 512: V8's
   * maxOldGenerationSizeMb). A program that allocates past it costs its
   * CPU: the worker ends, the CPU is marked dead (stats().cpus[c].dead),
   * and its frames count as CPU_DEAD drops; the process carries on.
   */
  cpuHeapMb?: number;
  /**
   * A CPU whose NAPI poll has not returned for this long (ms, default
   * 20000, the kernel's soft-lockup threshold of 2 * watchdog_thresh) is
   * stuck in a program: its worker is terminated and the CPU marked dead.
   * 0 turns the watchdog off.
   */
  lockupMs?: number;
  /** start with the RCU read-side check on (see setRcuChecking) */
  rcuCheck?: boolean;
  /** plant bugs for this run, to prove the checks catch them: 'no-gp', 'short-gp', 'early-qs', 'flush-outside' */
  inject?: RcuFault[];
  /**
   * false: the CPUs keep no RCU bookkeeping (no quiescent states reported),
   * the baseline of scripts/bench-rcu.ts. Grace periods then end only when
   * CPUs sleep: not for a runtime whose maps change under traffic.
   */
  rcu?: boolean;
}

export interface ProgHandle {
  readonly id: number;
  readonly name: string;
  readonly section: XdpSection;
}

export interface BpfObject {
  readonly path: string;
  readonly maps: Record<string, MapHandle>;
  readonly progs: Record<string, ProgHandle>;
  /** a clang-compiled object's license section ('' if none) */
  readonly license?: string;
}

export interface AttachOptions {
  /** XDP_FLAGS_* (XDP_FLAGS_UPDATE_IF_NOEXIST, XDP_FLAGS_REPLACE, a mode flag) */
  flags?: number;
  /** with XDP_FLAGS_REPLACE: the program expected to be attached (null: none) */
  expected?: ProgHandle | null;
}

export type DeviceCounters = Record<DevCounterName, number>;

export interface DeviceCpuStats extends DeviceCounters {
  dropReasons: Record<DropReason, number>;
}

export interface DeviceStats extends DeviceCounters {
  ifindex: number;
  name: string;
  kind: string;
  up: boolean;
  mtu: number;
  xdp_prog_id: number;
  xdp_features: number;
  /** false once the device was deleted */
  registered: boolean;
  dropReasons: Record<DropReason, number>;
  /** the same counters, per CPU (the control plane's own counts appear only in the sums) */
  perCpu: DeviceCpuStats[];
}

export interface CpuStats {
  cpu: number;
  polls: number;
  flushes: number;
  qs: number;
  sleeps: number;
  wakeups: number;
  bad_frees: number;
  trace_lost: number;
  tap_lost: number;
  /** packet capture copies lost to a full capture ring */
  cap_lost: number;
  /** devmap records found reused or freed under a CPU that used them (generation check; with the read-side check, also poison and pipeline age): a grace-period bug, always 0 */
  gp_violations: number;
  /** records the read-side check validated */
  rcu_checked: number;
  /** the read-side check's pipeline: records seen at age 0 (correct), 1, 2, 3+ grace periods past their retirement */
  rcu_pipeline: number[];
  /** quiescent states reported while a bulk queue was still pending (read-side check; a bug: always 0) */
  qs_with_pending_bulk: number;
  /** programs run after they were freed (a bug: always 0) */
  prog_use_after_free: number;
  /** cpumap, as xdp-monitor sums its tracepoints: frames this CPU enqueued towards other CPUs (and of those dropped: queue full), and what its cpumap kthreads did */
  cpumap: { enqueued: number; enqueue_drops: number; kthread_processed: number; kthread_pass: number; kthread_drop: number; kthread_redirect: number; kthread_sched: number };
  sleeping: boolean;
  /** the message of the last exception a program threw on this CPU ('' if none) */
  last_exception: string;
  /** null while the CPU runs; why it died (out of memory, stuck in a program, a failure of its own code) */
  dead: string | null;
}

export interface Stats {
  cpus: CpuStats[];
  devices: DeviceStats[];
  totals: {
    injected: number;
    /** frames made by broadcast redirects (clones): they enter like injected ones */
    clones: number;
    /** frames AF_XDP sockets transmitted (made from their TX descriptors): they enter like injected ones */
    xsk_tx: number;
    rx_packets: number;
    stack: number;
    xmit_consumed: number;
    /** frames AF_XDP sockets received (copied into their UMEM): they leave like transmitted ones */
    xsk_rx: number;
    dropped: number;
    dropReasons: Record<DropReason, number>;
    /** injected + clones + xsk_tx - (stack + xmit_consumed + xsk_rx + dropped): frames still in rings or queues */
    in_flight: number;
  };
  /** in_use: frames holding packets; frags: frames holding fragments of multi-buffer packets */
  pool: { frames: number; free: number; in_use: number; frags: number };
  /** every injected frame is accounted for: in_flight equals the frames the pool has out (exact at rest) */
  conserved: boolean;
  /** grace periods, their latency, callbacks; programs freed after their grace period */
  rcu: RcuStats & { programsFreed: number };
}

function emptyReasons(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
}

/** Which trace records to keep (Runtime.setTraceFilter); every given condition must hold. */
export interface TraceFilter {
  /** event names: xdp_* tracepoints, bpf_trace_printk */
  events?: string[];
  /** a device: the record's ifindex, from_ifindex or to_ifindex */
  ifindex?: number;
  /** the record's err field */
  err?: number;
}

/** A trace filter's shape (EINVAL naming the field): a record never finds a filter that throws. */
export function validateTraceFilter(f: unknown): asserts f is TraceFilter | null {
  if (f === null) return;
  const bad = (msg: string): never => {
    throw new XdpsimError(EINVAL, `trace filter: ${msg}`);
  };
  if (typeof f !== 'object' || Array.isArray(f)) bad('must be an object (events, ifindex, err) or null');
  const o = f as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'events' && k !== 'ifindex' && k !== 'err') bad(`unknown field '${k}' (events, ifindex, err)`);
  if (o.events !== undefined && (!Array.isArray(o.events) || !o.events.every((e) => typeof e === 'string'))) bad('events must be an array of event names');
  if (o.ifindex !== undefined && !(Number.isInteger(o.ifindex) && (o.ifindex as number) >= 0 && (o.ifindex as number) <= 0xffffffff)) bad('ifindex must be an integer in 0..4294967295');
  if (o.err !== undefined && !(Number.isInteger(o.err) && Math.abs(o.err as number) <= 0x7fffffff)) bad('err must be a 32-bit integer');
}

export function traceFilterPasses(f: TraceFilter, e: TraceEvent): boolean {
  if (f.events !== undefined && !f.events.includes(e.event)) return false;
  if (f.ifindex !== undefined && e.ifindex !== f.ifindex && e.from_ifindex !== f.ifindex && e.to_ifindex !== f.ifindex) return false;
  if (f.err !== undefined && e.err !== f.err) return false;
  return true;
}

/** What `xdpsim run FILE` gives a scenario besides the runtime. */
export interface ScenarioContext {
  /** aborted on Ctrl-C, SIGTERM or --duration: stop generating and return */
  signal: AbortSignal;
  /** a line of output (suppressed with --json) */
  log: (msg: string) => void;
  /** the command line arguments after the scenario file */
  args: string[];
}
/** A scenario module's default export. */
export type Scenario = (rt: Runtime, ctx: ScenarioContext) => Promise<void>;

export interface XskSocketOptions {
  /** the device (object, name or ifindex) and queue to bind */
  dev: Device | string | number;
  queueId: number;
  umem: Umem;
  /** ring sizes (powers of two; default 2048 as libxdp's); rxSize or txSize 0 leaves that ring out */
  rxSize?: number;
  txSize?: number;
  fillSize?: number;
  compSize?: number;
  /** sxdp_flags: XDP_COPY (the only mode here), XDP_USE_NEED_WAKEUP, XDP_USE_SG; XDP_ZEROCOPY is EOPNOTSUPP */
  bindFlags?: number;
}

/** An AF_XDP socket bound by the runtime: the user-space view plus close(). Its id is its "fd" (XSKMAP values). */
export class XdpSocket extends XdpSocketView {
  constructor(private readonly rt: Runtime, s: XskShared, umem: Umem) {
    super(s, umem);
  }
  close(): Promise<void> {
    return this.rt.closeXsk(this);
  }
}

export class Device {
  /** true once the device was unregistered (its counters stay in stats()) */
  deleted = false;
  constructor(private readonly rt: Runtime, readonly info: DeviceInfo) {}
  get ifindex(): number { return this.info.ifindex; }
  get name(): string { return this.info.name; }
  get kind(): string { return this.info.kind; }
  get peer(): Device | null { return this.info.peer ? this.rt.device(this.info.peer) : null; }
  get mtu(): number { return this.rt.registry.word(this.ifindex, DT_MTU); }
  get isUp(): boolean { return this.rt.registry.isUp(this.ifindex); }
  get xdpFeatures(): number { return this.rt.registry.word(this.ifindex, DT_FEATURES); }
  /** id of the attached XDP program, 0 if none */
  get xdpProgId(): number { return this.rt.registry.word(this.ifindex, DT_PROG); }
  /** the CPU that polls each RX queue */
  get rxQueueCpus(): number[] { return this.info.rxq.map((q) => this.rt.devs.rxqCpu(q)); }
  up(): void { this.rt.registry.setUp(this.ifindex, true); }
  down(): void { this.rt.registry.setUp(this.ifindex, false); }
  setMtu(mtu: number): void { this.rt.registry.setMtu(this.ifindex, mtu); }
  /** Attach (or replace) the device's XDP program; returns the id it replaced (0: none). */
  attachXdp(prog: ProgHandle, o: AttachOptions = {}): number { return this.rt.attachXdp(this, prog, o); }
  /** Detach the XDP program; returns the id it removed (0: none). */
  detachXdp(o: AttachOptions = {}): number { return this.rt.attachXdp(this, null, o); }
  /** Receive a copy of every frame this device hands to its stack (XDP_PASS, or no program). */
  onPass(handler: ((p: TapPacket) => void) | null): void { this.rt.setPassHandler(this, handler); }
  inject(o: InjectOptions = {}): Promise<InjectResult> { return this.rt.inject(this, o); }
  /** Generate traffic on this device's RX queues (see Runtime.generate). */
  generate(o: GenerateOptions = {}): Promise<Generation> { return this.rt.generate(this, o); }
  /** Unregister the device (a veth takes its peer with it). */
  delete(): Promise<void> { return this.rt.deleteDevice(this); }
  stats(): DeviceStats { return this.rt.stats().devices.find((d) => d.ifindex === this.ifindex)!; }
}

export class Runtime extends EventEmitter {
  readonly shared: SharedState;
  readonly limits: RuntimeLimits;
  readonly registry: DeviceRegistry;
  readonly devs: NetDevices;
  private readonly pool: FramePool;
  private readonly source: TrafficSource;
  private readonly workers: Worker[] = [];
  private readonly apis: Comlink.Remote<CpuApi>[] = [];
  private readonly exits: Promise<number>[] = [];
  private readonly cpuctl: Int32Array;
  private readonly readers: TraceReader[];
  private readonly taps: TapRing[];
  private readonly capRings: CaptureRing[];
  private readonly printks: PrintkRing[];
  private traceFilter: TraceFilter | null = null;
  private readonly captures = new Set<Capture>();
  private readonly namedMaps = new Map<string, MapHandle>();
  private readonly namedProgs = new Map<string, ProgHandle>();
  private control: ControlServer | null = null;
  private readonly passHandlers = new Map<number, (p: TapPacket) => void>();
  private readonly devices = new Map<number, Device>();
  private readonly progs = new Map<number, ProgHandle>();
  /* program references: its object (until unloadObject), each device it is attached to, each devmap entry holding it */
  private readonly progRefs = new Map<number, number>();
  private readonly unloaded = new WeakSet<BpfObject>();
  private progsFreed = 0;
  private readonly devmaps: DevMap[] = [];
  private readonly cpumaps: CpuMap[] = [];
  private readonly xskmaps: XskMap[] = [];
  /* AF_XDP sockets by id (ids are never reused), and which (ifindex, queue) each bound */
  private readonly xsks = new Map<number, XdpSocket>();
  private readonly xskBound = new Map<string, number>();
  private nextXskId = 1;
  private readonly unregistering = new Set<number>();
  private readonly deadCpus = new Set<number>();
  /* why each dead CPU died; and per CPU, a promise that resolves when its worker has gone */
  private readonly deadWhy = new Map<number, string>();
  private readonly gone: Promise<void>[] = [];
  private readonly cpuHeapMb: number;
  private readonly lockupMs: number;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly lastRounds: number[] = [];
  private readonly stuckSince: number[] = [];
  readonly rcu: Rcu;
  private readonly faults: RcuFault[];
  private readonly rcuCheckAtStart: boolean;
  private readonly rcuOn: boolean;
  readonly devmapControl: DevmapControl;
  private readonly kept: TraceEvent[] = [];
  private readonly traceKeep: number;
  private readonly logger: Logger | undefined;
  private readonly drainTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private collector: NodeJS.Timeout | null = null;
  private readonly clock: () => number;
  private nextProgId = 1;
  private nextMapId = 1;
  private nextObjectId = 1;
  private stopping = false;
  private stopped = false;
  private injecting = 0;
  private readonly generations = new Set<Generation>();
  private readonly genQueues = new Set<number>();
  private nextGenId = 1;

  private constructor(o: RuntimeOptions) {
    super();
    const cpus = o.cpus ?? 2;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) throw new XdpsimError(EINVAL, `cpus ${cpus}: must be an integer in 1..64`);
    /* RX queues: room for 16 devices with a queue on every CPU (a device's queues are often one per CPU) */
    const limits: RuntimeLimits = { ...DEFAULT_LIMITS, maxRxQueues: Math.max(DEFAULT_LIMITS.maxRxQueues, 16 * cpus), cpus };
    for (const k of Object.keys(DEFAULT_LIMITS) as (keyof typeof DEFAULT_LIMITS)[]) {
      const v = o[k];
      if (v !== undefined) {
        if (!Number.isInteger(v) || v <= 0) throw new XdpsimError(EINVAL, `${k} ${v}: must be a positive integer`);
        limits[k] = v;
      }
    }
    for (const k of ['traceRingSize', 'tapRingSize', 'capRingSize'] as const) {
      if ((limits[k] & (limits[k] - 1)) !== 0) throw new XdpsimError(EINVAL, `${k} ${limits[k]}: must be a power of two`);
    }
    if (limits.budget > 4096) throw new XdpsimError(EINVAL, `budget ${limits.budget}: at most 4096`);
    if (limits.bulkSize > 16) throw new XdpsimError(EINVAL, `bulkSize ${limits.bulkSize}: at most 16 (DEV_MAP_BULK_SIZE)`);
    this.limits = limits;
    this.shared = createSharedState(limits, (l) => traceRingBytes(l.traceRingSize), (l) => tapRingBytes(l.tapRingSize, l.frameSize));
    this.cpuctl = new Int32Array(this.shared.cpuctl);
    this.clock = makeClock(this.shared.epochMs);
    for (const f of o.inject ?? []) if (!RCU_FAULTS.includes(f)) throw new XdpsimError(EINVAL, `inject '${f}': one of ${RCU_FAULTS.join(', ')}`);
    this.faults = [...(o.inject ?? [])];
    this.rcuCheckAtStart = o.rcuCheck ?? false;
    this.rcuOn = o.rcu ?? true;
    this.rcu = new Rcu(this.shared.cpuctl, this.shared.global, cpus, this.deadCpus, this.faults);
    this.devmapControl = {
      devOk: (ifindex) => this.devices.has(ifindex) && !this.devices.get(ifindex)!.deleted && !this.unregistering.has(ifindex),
      progSection: (id) => this.progs.get(id)?.section,
      callRcu: (fn) => this.rcu.call(fn),
      gpStarted: () => this.rcu.started(),
      progGet: (id) => this.progGet(id),
      progPut: (id) => this.progPut(id),
    };
    /* the control plane is the last home of the pool and counts in block `cpus` */
    this.pool = new FramePool(this.shared.pool, cpus);
    this.devs = new NetDevices(this.shared, this.pool, cpuCounters(this.shared.counters, cpus, limits.maxDevices));
    this.registry = new DeviceRegistry(this.shared);
    this.source = new TrafficSource(this.pool, this.devs);
    this.readers = this.shared.trace.map((b, c) => new TraceReader(b, limits.traceRingSize, c));
    this.taps = this.shared.tap.map((b) => new TapRing(b, limits.tapRingSize, limits.frameSize));
    this.capRings = this.shared.capture.map((b) => new CaptureRing(b, limits.capRingSize, limits.frameSize));
    this.printks = this.shared.printk.map((b) => new PrintkRing(b));
    this.traceKeep = o.traceKeep ?? 65536;
    this.logger = o.logger;
    this.drainTimeoutMs = o.drainTimeoutMs ?? 2000;
    this.stopTimeoutMs = o.stopTimeoutMs ?? 5000;
    for (const k of ['cpuHeapMb', 'lockupMs'] as const) {
      const v = o[k];
      if (v !== undefined && (!Number.isInteger(v) || v < (k === 'cpuHeapMb' ? 16 : 0))) {
        throw new XdpsimError(EINVAL, `${k} ${v}: must be an integer ${k === 'cpuHeapMb' ? '>= 16' : '>= 0'}`);
      }
    }
    this.cpuHeapMb = o.cpuHeapMb ?? 512;
    this.lockupMs = o.lockupMs ?? 20_000;
    this.addDevice(this.registry.createLoopback());
  }

  /** Start a runtime of `cpus` simulated CPUs (one worker thread each). */
  static async start(o: RuntimeOptions = {}): Promise<Runtime> {
    const rt = new Runtime(o);
    await rt.spawn();
    return rt;
  }

  get cpus(): number {
    return this.limits.cpus;
  }

  /** bpf_ktime_get_ns() as the CPUs see it: nanoseconds since the runtime started. */
  ktimeNs(): number {
    return this.clock();
  }

  /**
   * Where each CPU's code comes from: the URL of the worker bundle
   * (src/cpu/bundle.ts), or of src/cpu/worker.ts when the CPUs run the
   * sources (XDPSIM_BUNDLE=0, or a failed build).
   */
  async cpuCode(): Promise<string[]> {
    return Promise.all(this.apis.map((a) => a.codeUrl()));
  }

  /** Cores of this machine, for reference: CPUs may outnumber them. */
  static machineCores(): number {
    return availableParallelism();
  }

  private async spawn(): Promise<void> {
    const boot = new URL('./cpu/worker-boot.mjs', import.meta.url);
    const bundle = workerBundle();
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      /* execArgv: [] — the boot file loads tsx itself, and the parent's flags (--input-type, ...) do not fit a worker */
      /* XDPSIM_CPU_PROF=DIR: each CPU writes a V8 CPU profile there when it stops (node --cpu-prof does not reach workers started with execArgv []) */
      const prof = process.env.XDPSIM_CPU_PROF;
      const execArgv = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
      const w = new Worker(boot, {
        workerData: { cpu, shared: this.shared, rcu: this.rcuOn, bundle }, name: `xdpsim-cpu${cpu}`, execArgv,
        resourceLimits: { maxOldGenerationSizeMb: this.cpuHeapMb },
      });
      this.workers.push(w);
      const exit = new Promise<number>((res) => w.once('exit', res));
      this.exits.push(exit);
      this.gone.push(exit.then(() => undefined));
      w.on('error', (err) => {
        /*
         * The worker is gone: a program that ran it out of memory
         * (ERR_WORKER_OUT_OF_MEMORY), or a bug in the CPU's own code. Say
         * so, and let grace periods, the control plane and stop() go on
         * without it; its frames become CPU_DEAD drops.
         */
        const oom = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
        this.cpuDied(cpu, oom ? `out of memory: a program ran its worker past its heap (cpuHeapMb ${this.cpuHeapMb})` : `failed: ${err.message}`);
        this.logger?.error({ cpu, err }, 'cpu worker failed');
        if (this.listenerCount('cpu-error') > 0) this.emit('cpu-error', cpu, err);
        else process.emitWarning(`xdpsim: cpu ${cpu} failed: ${err.stack ?? err.message}`);
      });
      void exit.then((code) => {
        if (!this.deadCpus.has(cpu) && Atomics.load(this.cpuctl, cpu * CC_WORDS + CC_STATE) !== CS_STOPPED) this.cpuDied(cpu, `its worker exited (code ${code})`);
      });
      this.apis.push(Comlink.wrap<CpuApi>(nodeEndpoint(w)));
    }
    /* a worker that fails to start (an error, or an exit) fails start() instead of hanging it */
    let failed: (e: Error) => void = () => {};
    const failure = new Promise<never>((_, rej) => { failed = rej; });
    const onError = this.workers.map((_, cpu) => (e: Error) => failed(new Error(`cpu ${cpu} failed to start: ${e.message}`)));
    const onExit = this.workers.map((_, cpu) => (code: number) => failed(new Error(`cpu ${cpu} exited with code ${code} while starting`)));
    this.workers.forEach((w, cpu) => {
      w.on('error', onError[cpu]!);
      w.on('exit', onExit[cpu]!);
    });
    try {
      await Promise.race([Promise.all(this.apis.map((a) => a.ping())), failure]);
    } catch (e) {
      await Promise.all(this.workers.map((w) => w.terminate()));
      throw e;
    } finally {
      this.workers.forEach((w, cpu) => {
        w.off('error', onError[cpu]!);
        w.off('exit', onExit[cpu]!);
      });
    }
    if (this.faults.length > 0) await Promise.all(this.apis.map((a) => a.setFaults(this.faults)));
    if (this.rcuCheckAtStart) await this.setRcuChecking(true);
    this.collector = setInterval(() => this.collect(), 10);
    this.collector.unref();
    if (this.lockupMs > 0) {
      this.watchdog = setInterval(() => this.watch(), Math.max(10, Math.min(1000, this.lockupMs >> 2)));
      this.watchdog.unref();
    }
  }

  /*
   * The soft-lockup watchdog: a CPU that is awake (not sleeping), has work
   * or is in a poll, and has not finished a NAPI poll for lockupMs is stuck
   * in a program that does not return (a TypeScript program can loop
   * forever; a BPF one cannot). Its worker is terminated, as the kernel's
   * softlockup_panic would take the machine: here it costs that CPU only.
   */
  private watch(): void {
    if (this.stopping) return;
    const now = performance.now();
    for (let c = 0; c < this.cpus; c++) {
      if (this.deadCpus.has(c)) continue;
      const rounds = cpuCounters(this.shared.counters, c, this.limits.maxDevices)[CPU_ROUNDS]!;
      const sleeping = Atomics.load(this.cpuctl, c * CC_WORDS + CC_SLEEPING) !== 0;
      if (sleeping || rounds !== this.lastRounds[c]) {
        this.lastRounds[c] = rounds;
        this.stuckSince[c] = now;
        continue;
      }
      this.stuckSince[c] ??= now;
      if (now - this.stuckSince[c]! >= this.lockupMs) {
        const why = `stuck in a program: its loop made no round for ${Math.round(now - this.stuckSince[c]!)} ms (soft lockup, lockupMs ${this.lockupMs}); its worker was terminated`;
        this.cpuDied(c, why);
        this.logger?.error({ cpu: c }, why);
        const err = new XdpsimError(ESRCH, `cpu ${c} ${why}`);
        if (this.listenerCount('cpu-error') > 0) this.emit('cpu-error', c, err);
        else process.emitWarning(`xdpsim: cpu ${c} ${why}`);
        void this.workers[c]!.terminate();
      }
    }
  }

  /* A CPU is dead: grace periods stop waiting for it, control-plane calls skip it, its queues are emptied as CPU_DEAD drops. */
  private cpuDied(cpu: number, why: string): void {
    if (this.deadCpus.has(cpu)) return;
    this.deadWhy.set(cpu, why);
    this.deadCpus.add(cpu);
  }

  /*
   * A control-plane call on every live CPU. A CPU that dies during the call
   * (its worker gone) answers undefined instead of leaving the call hanging.
   */
  private async onCpus<T>(f: (api: Comlink.Remote<CpuApi>, cpu: number) => Promise<T>): Promise<Array<T | undefined>> {
    return Promise.all(this.apis.map((a, c) => (this.deadCpus.has(c) ? undefined : Promise.race([f(a, c), this.gone[c]!.then(() => undefined)]))));
  }

  /*
   * Frames queued to dead CPUs (their RX rings, the queues of cpumap
   * entries whose kthread ran there): no one else will consume them, so
   * the control plane does, counting them as CPU_DEAD drops.
   */
  private purgeDead(): void {
    for (const d of this.devices.values()) {
      if (d.deleted) continue;
      for (const q of d.info.rxq) if (this.deadCpus.has(this.devs.rxqCpu(q))) this.purgeQueue(q, d.ifindex, DR_CPU_DEAD);
    }
    const batch = new Int32Array(256);
    const ctr = this.devs.counters;
    for (const m of this.cpumaps) {
      for (const r of m.usedRecords()) {
        if (!this.deadCpus.has(m.recCpu(r))) continue;
        for (let n = m.consume(r, batch, batch.length); n > 0; n = m.consume(r, batch, batch.length)) {
          for (let k = 0; k < n; k++) {
            countDrops(ctr, devRow(this.pool.meta[batch[k]! * FM_WORDS + FM_INGRESS]!), DR_CPU_DEAD, 1);
            this.pool.free(batch[k]!);
          }
        }
        /* a retired entry waits for its kthread to stop: the dead one never will, so its queue's last consumer says so */
        if (m.recState(r) === CPUMAP_CS_STOPPING) m.markStopped(r);
      }
    }
    this.pool.flushReturns();
  }

  /*
   * After every worker has gone (stop()): the frames still in use are the
   * ones dead CPUs held in their hands (a frame in its program, bulk
   * queues not flushed). Free them as CPU_DEAD drops, on the frame's
   * ingress device when it names one (a redirected frame), else on the
   * device the dead CPU was polling.
   */
  private reclaimDead(): void {
    const meta = this.pool.meta;
    let fallback = 1;
    for (const c of this.deadCpus) {
      const dev = cpuCounters(this.shared.counters, c, this.limits.maxDevices)[CPU_POLL_DEV]!;
      if (this.devices.has(dev)) fallback = dev;
    }
    const ctr = this.devs.counters;
    for (let fd = 0; fd < this.shared.pool.nframes; fd++) {
      const m = fd * FM_WORDS;
      const st = meta[m + FM_STATE];
      if ((st !== FS_USED && st !== FS_GEN) || (meta[m + FM_FLAGS]! & FRAME_FLAG_IS_FRAG) !== 0) continue;
      const ing = meta[m + FM_INGRESS]!;
      countDrops(ctr, devRow(this.devices.has(ing) ? ing : fallback), DR_CPU_DEAD, 1);
      this.pool.free(fd);
    }
    this.pool.flushReturns();
  }

  private addDevice(info: DeviceInfo): Device {
    const d = new Device(this, info);
    this.devices.set(info.ifindex, d);
    return d;
  }

  /** A device by name or ifindex (ENODEV if there is none). */
  device(dev: string | number): Device {
    return this.devices.get(this.registry.get(dev).ifindex)!;
  }

  /**
   * An AF_XDP socket (socket(AF_XDP), XDP_UMEM_REG, the ring sizes, bind):
   * copy mode, bound to (dev, queueId), with the UMEM's fill and completion
   * rings and the socket's RX and TX rings (a size of 0 leaves a ring out).
   * Errors are the kernel's: EINVAL for a ring size that is not a power of
   * two, no RX and no TX ring, unknown flags, XDP_COPY with XDP_ZEROCOPY, a
   * queue the device does not have; ENODEV for no such device; EBUSY for a
   * queue another socket is bound to; EOPNOTSUPP for XDP_ZEROCOPY (veth and
   * sinks have no zero-copy) and XDP_SHARED_UMEM (not modelled).
   */
  async xskSocket(o: XskSocketOptions): Promise<XdpSocket> {
    this.assertRunning();
    const fail = (errno: number, msg: string): never => {
      throw new XdpsimError(errno, `xsk socket: ${msg}`);
    };
    if (typeof o !== 'object' || o === null) fail(EINVAL, 'options (dev, queueId, umem, ...) must be an object');
    const umem = o.umem;
    if (!(umem instanceof Umem)) fail(EINVAL, 'umem must be a Umem (XDP_UMEM_REG)');
    const sizes = { fill: o.fillSize ?? XSK_RING_DEFAULT, comp: o.compSize ?? XSK_RING_DEFAULT, rx: o.rxSize ?? XSK_RING_DEFAULT, tx: o.txSize ?? XSK_RING_DEFAULT };
    /* xsk_init_queue(): setsockopt(XDP_*_RING) */
    for (const [k, v] of Object.entries(sizes)) {
      if (k === 'rx' || k === 'tx') if (v === 0) continue;
      if (!Number.isInteger(v) || v <= 0 || (v & (v - 1)) !== 0 || v > 1 << 24) fail(EINVAL, `${k} ring size ${v}: a power of two is required`);
    }
    const flags = o.bindFlags ?? 0;
    /* xsk_bind() */
    if (!Number.isInteger(flags) || (flags & ~(XDP_SHARED_UMEM | XDP_COPY | XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP | XDP_USE_SG)) !== 0) fail(EINVAL, `bind flags 0x${flags.toString(16)}: unknown bits`);
    if (sizes.rx === 0 && sizes.tx === 0) fail(EINVAL, 'neither an RX nor a TX ring');
    let dev: Device;
    try {
      dev = typeof o.dev === 'object' ? o.dev : this.device(o.dev);
    } catch {
      return fail(ENODEV, `no device ${String(typeof o.dev === 'object' ? o.dev.name : o.dev)}`);
    }
    if (dev.deleted) fail(ENODEV, `device ${dev.name} is gone`);
    if ((flags & XDP_COPY) !== 0 && (flags & XDP_ZEROCOPY) !== 0) fail(EINVAL, 'XDP_COPY and XDP_ZEROCOPY together');
    if ((flags & XDP_SHARED_UMEM) !== 0) fail(EOPNOTSUPP, 'XDP_SHARED_UMEM is not modelled by xdpsim: give each socket its own UMEM');
    if ((flags & XDP_USE_SG) !== 0) fail(EOPNOTSUPP, 'XDP_USE_SG (multi-buffer descriptors) is not modelled by xdpsim');
    const queueId = o.queueId;
    if (!Number.isInteger(queueId) || queueId < 0 || queueId >= dev.info.rxq.length) fail(EINVAL, `queue_id ${queueId}: ${dev.name} has ${dev.info.rxq.length} queue(s)`);
    const key = `${dev.ifindex}/${queueId}`;
    if (this.xskBound.has(key)) fail(EBUSY, `queue ${queueId} of ${dev.name} is bound to socket ${this.xskBound.get(key)} (xsk_get_pool_from_qid)`);
    if ((flags & XDP_ZEROCOPY) !== 0) fail(EOPNOTSUPP, `${dev.name} (${dev.kind}) has no zero-copy AF_XDP support: use XDP_COPY`);
    const id = this.nextXskId++;
    const rxq = dev.info.rxq[queueId]!;
    const ctl = new SharedArrayBuffer(4 * XW_WORDS);
    const w = new Int32Array(ctl);
    w[XW_IFINDEX] = dev.ifindex;
    w[XW_QUEUE_ID] = queueId;
    w[XW_RXQ] = rxq;
    w[XW_FLAGS] = flags;
    const shared: XskShared = {
      id, ctl, umem: umem.shared, fill: ringShared(sizes.fill, 'addr'), comp: ringShared(sizes.comp, 'addr'),
      rx: sizes.rx === 0 ? null : ringShared(sizes.rx, 'desc'), tx: sizes.tx === 0 ? null : ringShared(sizes.tx, 'desc'),
      cpuctl: this.shared.cpuctl, cpu: this.devs.rxqCpu(rxq),
    };
    this.xskBound.set(key, id);
    const sock = new XdpSocket(this, shared, umem);
    this.xsks.set(id, sock);
    await this.onCpus((a) => a.addXsk(shared));
    Atomics.store(w, XW_STATE, XS_BOUND);
    return sock;
  }

  /** close() of an AF_XDP socket: out of every XSKMAP, unbound, forgotten by the CPUs after a grace period. */
  async closeXsk(sock: XdpSocket): Promise<void> {
    const w = new Int32Array(sock.shared.ctl);
    if (Atomics.load(w, XW_STATE) === XS_CLOSED) return;
    Atomics.store(w, XW_STATE, XS_CLOSED);
    for (const m of this.xskmaps) m.removeSock(sock.id);
    this.xskBound.delete(`${w[XW_IFINDEX]}/${w[XW_QUEUE_ID]}`);
    if (this.stopping) return;
    await this.synchronizeRcu();
    await this.onCpus((a) => a.dropXsk(sock.id));
    this.xsks.delete(sock.id);
  }

  listDevices(): Device[] {
    return [...this.devices.values()].filter((d) => !d.deleted);
  }

  /** Create a veth pair; returns [dev, peer]. `peerOptions` default to `options`. */
  createVeth(name: string, peerName: string, options: DeviceOptions = {}, peerOptions: DeviceOptions = options): [Device, Device] {
    this.assertRunning();
    const [a, b] = this.registry.createVeth(name, peerName, options, peerOptions);
    return [this.addDevice(a), this.addDevice(b)];
  }

  /** Create a sink device: it counts and frees what is transmitted on it. */
  createSink(name: string, options: DeviceOptions = {}): Device {
    this.assertRunning();
    return this.addDevice(this.registry.createSink(name, options));
  }

  /**
   * Load a program object: a module whose exports are defineMap() maps and
   * xdp() programs. Every CPU imports it and binds its maps to the shared
   * instances created here. Each load is a separate object, with its own maps.
   */
  async loadObject(path: string): Promise<BpfObject> {
    this.assertRunning();
    if (typeof path !== 'string' || path === '') throw new XdpsimError(EINVAL, `loadObject: the path must be a non-empty string (got ${typeof path === 'string' ? "''" : String(path)})`);
    if (isBpfObjectPath(path)) return this.loadBpfObject(path);
    const url = (path.startsWith('file:') ? path : pathToFileURL(resolvePath(path)).href) + `?xdpsim_obj=${this.nextObjectId++}`;
    const mod = (await import(url)) as Record<string, unknown>;
    const shareds: Record<string, MapShared> = {};
    const progIds: Record<string, number> = {};
    const maps: Record<string, MapHandle> = {};
    const progs: Record<string, ProgHandle> = {};
    for (const [name, v] of Object.entries(mod)) {
      if (isMapDef(v)) {
        /* libbpf names a map after its variable, cut to BPF_OBJ_NAME_LEN - 1 */
        const s = createMapShared({ ...v.spec, name: v.spec.name ?? objName(name) }, this.nextMapId++, this.cpus);
        shareds[name] = s;
        const m = openMap(s);
        v._map = m;
        v._devmap = m instanceof DevMap ? m : null;
        this.adoptMap(m);
        maps[name] = new MapHandle(m);
        this.namedMaps.set(s.name, maps[name]!);
      } else if (isProgDef(v)) {
        const h: ProgHandle = { id: this.nextProgId++, name, section: v.section };
        progIds[name] = h.id;
        progs[name] = h;
        this.namedProgs.set(name, h);
        this.progs.set(h.id, h);
        this.progRefs.set(h.id, 1);
      }
    }
    if (Object.keys(progs).length === 0) throw new XdpsimError(EINVAL, `object ${path}: no program (export an xdp(...) function)`);
    await this.onCpus((a) => a.loadObject(url, shareds, progIds));
    return { path, maps, progs };
  }

  /*
   * A clang-compiled object (src/bpf): opened and translated here (load
   * errors are raised here), its maps created here like a TypeScript
   * object's, then every CPU builds the programs on its own maps.
   */
  private async loadBpfObject(path: string): Promise<BpfObject> {
    const obj = prepareBpfObjectFile(path);
    const shareds = createBpfMaps(obj, () => this.nextMapId++, this.cpus);
    const maps: Record<string, MapHandle> = {};
    const progs: Record<string, ProgHandle> = {};
    const progIds: Record<string, number> = {};
    obj.maps.forEach((spec, i) => {
      const m = openMap(shareds[i]!);
      this.adoptMap(m);
      maps[spec.name] = new MapHandle(m);
      this.namedMaps.set(m.shared.name, maps[spec.name]!);
    });
    for (const p of obj.progs) {
      const h: ProgHandle = { id: this.nextProgId++, name: p.name, section: p.section };
      progIds[p.name] = h.id;
      progs[p.name] = h;
      this.namedProgs.set(p.name, h);
      this.progs.set(h.id, h);
      this.progRefs.set(h.id, 1);
    }
    await this.onCpus((a) => a.loadBpfObject(obj, shareds, progIds));
    return { path, maps, progs, license: obj.license };
  }

  /** A map created by the control plane: devmaps get the runtime as their writer's control. */
  private adoptMap(m: ReturnType<typeof openMap>): void {
    if (m instanceof DevMap) {
      m.bindControl(this.devmapControl);
      this.devmaps.push(m);
    } else if (m instanceof XskMap) {
      m.bindControl({ xskOk: (id) => this.xsks.get(id)?.closed === false });
      this.xskmaps.push(m);
    } else if (m instanceof CpuMap) {
      m.bindControl({ ...this.devmapControl, wakeCpu: (cpu) => this.devs.ringDoorbell(cpu) });
      this.cpumaps.push(m);
    }
  }

  /**
   * Create a map outside any object (bpftool map create): the same shared
   * maps programs use.
   */
  createMap(spec: { type: number; keySize: number; valueSize: number; maxEntries: number; mapFlags?: number; name?: string }): MapHandle {
    this.assertRunning();
    const m = openMap(createMapShared(spec, this.nextMapId++, this.cpus));
    this.adoptMap(m);
    const h = new MapHandle(m);
    this.namedMaps.set(m.shared.name, h);
    return h;
  }

  /** Every map by its name (the newest of a name), as `bpftool map` and the control socket see them. */
  mapsByName(): Map<string, MapHandle> {
    return this.namedMaps;
  }
  /** Every loaded program by its name (the newest of a name). */
  progsByName(): Map<string, ProgHandle> {
    return this.namedProgs;
  }

  /**
   * Open the control socket (src/control.ts): other processes attach with
   * `xdpsim monitor|trace|map|dump --socket PATH`. Closed by stop().
   * `o`: where captures may write, overwriting, the per-client bound.
   */
  async listen(path?: string, o: ControlOptions = {}): Promise<ControlServer> {
    this.assertRunning();
    if (this.control !== null) return this.control;
    this.control = await ControlServer.listen(this, path, { ...o, logger: this.logger });
    return this.control;
  }

  /**
   * The RCU read-side check: each CPU validates every devmap record it
   * dereferenced during a poll (generation, poison) before it reports its
   * quiescent state, and counts violations (stats().cpus[].gp_violations).
   */
  async setRcuChecking(on: boolean): Promise<void> {
    await this.onCpus((a) => a.setRcuCheck(on));
  }

  /** synchronize_rcu(): wait until every CPU has passed a quiescent state or slept (src/shared/rcu.ts). */
  synchronizeRcu(): Promise<void> {
    return this.rcu.synchronize();
  }

  /** call_rcu(): run fn on the main thread after a grace period, in order. */
  callRcu(fn: () => void): void {
    this.assertRunning();
    if (typeof fn !== 'function') throw new XdpsimError(EINVAL, 'callRcu: the callback must be a function');
    this.rcu.call(fn);
  }

  /** rcu_barrier(): wait until every queued callRcu callback has run. */
  rcuBarrier(): Promise<void> {
    return this.rcu.barrier();
  }

  /**
   * unregister_netdevice(): the device (and a veth's peer) goes down, every
   * devmap entry pointing at it is deleted (dev_map_notification), the CPUs
   * stop polling its RX queues, and after a grace period (every frame a CPU
   * had queued for it has met its closed xmit, counted as a drop) the
   * frames left in its rings are freed (reason UNREGISTERED). The ifindex
   * is never reused; the device's counters stay in stats().
   */
  async deleteDevice(dev: Device | string | number): Promise<void> {
    this.assertRunning();
    const d = dev instanceof Device ? dev : this.device(dev);
    if (d.deleted) throw new XdpsimError(ENODEV, `device '${d.name}' is already deleted`);
    if (this.unregistering.has(d.ifindex)) throw new XdpsimError(ENODEV, `device '${d.name}' is being deleted`);
    if (d.kind === 'loopback') throw new XdpsimError(EINVAL, `'lo' can not be deleted`);
    const victims = [d];
    if (d.info.peer !== 0) victims.push(this.devices.get(d.info.peer)!);
    for (const v of victims) {
      this.unregistering.add(v.ifindex);
      /* down and unregistered at once: injections stop, bpf_redirect() to it is -EINVAL, devmap sends -ENETDOWN */
      this.registry.unlist(v.ifindex);
    }
    for (const m of this.devmaps) for (const v of victims) m.removeIfindex(v.ifindex);
    /* xsk_notifier(NETDEV_UNREGISTER) -> xsk_unbind_dev(): the device's AF_XDP sockets are unbound (they stay in maps: frames find them unbound, -ENXIO) */
    for (const s of this.xsks.values()) {
      const w = new Int32Array(s.shared.ctl);
      if (!victims.some((v) => v.ifindex === w[XW_IFINDEX]) || Atomics.load(w, XW_STATE) !== XS_BOUND) continue;
      Atomics.store(w, XW_STATE, XS_UNBOUND);
      Atomics.store(w, XW_TX_KICK, 0);
      this.xskBound.delete(`${w[XW_IFINDEX]}/${w[XW_QUEUE_ID]}`);
    }
    const queues = victims.map((v) => this.registry.releaseQueues(v.ifindex));
    const gen = this.registry.rxqGen();
    for (;;) {
      let seen = true;
      for (let c = 0; c < this.cpus; c++) {
        const o = c * CC_WORDS;
        if (!this.deadCpus.has(c) && Atomics.load(this.cpuctl, o + CC_RXQ_SEEN) !== gen && Atomics.load(this.cpuctl, o + CC_SLEEPING) === 0
          && Atomics.load(this.cpuctl, o + CC_STATE) !== CS_STOPPED) seen = false;
      }
      if (seen) break;
      await new Promise((r) => setTimeout(r, 1));
    }
    await this.rcu.synchronize();
    victims.forEach((v, i) => {
      for (const q of queues[i]!) this.purgeQueue(q, v.ifindex, DR_UNREGISTERED);
      this.registry.freeQueues(queues[i]!);
      const prog = this.registry.word(v.ifindex, DT_PROG);
      if (prog !== 0) this.progPut(prog);
      this.passHandlers.delete(v.ifindex);
      this.registry.forget(v.ifindex);
      v.deleted = true;
      this.unregistering.delete(v.ifindex);
    });
    this.pool.flushReturns();
  }

  /** A loaded program by id. */
  prog(id: number): ProgHandle | undefined {
    return this.progs.get(id);
  }

  attachXdp(dev: Device, prog: ProgHandle | null, o: AttachOptions = {}): number {
    this.assertRunning();
    if (prog !== null) {
      if (typeof prog !== 'object') throw new XdpsimError(EBADF, `attach to '${dev.name}': ${String(prog)} is not a program (a ProgHandle of this runtime, or null to detach)`);
      if (this.progs.get(prog.id) !== prog) throw new XdpsimError(EINVAL, `attach to '${dev.name}': program '${prog.name}' (id ${prog.id}) is not loaded in this runtime`);
      if (prog.section !== 'xdp' && prog.section !== 'xdp.frags') {
        throw new XdpsimError(EINVAL, `attach to '${dev.name}': program '${prog.name}' is SEC("${prog.section}"): ${prog.section} programs can not be attached to a device`);
      }
    }
    const expected = o.expected === undefined ? undefined : o.expected === null ? 0 : o.expected.id;
    const old = this.registry.attachXdp(dev.ifindex, prog === null ? 0 : prog.id, o.flags ?? 0, expected);
    /* the device holds its program: the new one is referenced, the old one let go (freed after a grace period if that was the last) */
    if (prog !== null) this.progGet(prog.id);
    if (old !== 0) this.progPut(old);
    return old;
  }

  private progGet(id: number): void {
    this.progRefs.set(id, (this.progRefs.get(id) ?? 0) + 1);
  }

  /* bpf_prog_put(): the last reference frees the program on every CPU after a grace period */
  private progPut(id: number): void {
    const n = (this.progRefs.get(id) ?? 0) - 1;
    if (n > 0) {
      this.progRefs.set(id, n);
      return;
    }
    this.progRefs.delete(id);
    this.progs.delete(id);
    this.rcu.call(() => {
      this.progsFreed++;
      if (this.stopping) return; /* the CPUs are going away with their tables */
      void this.onCpus((a) => a.freeProg(id)).catch(() => { /* a CPU that stopped meanwhile */ });
    });
  }

  /**
   * Close a program object (the last fd of a libbpf object): its programs
   * lose the object's reference; each is freed after a grace period once no
   * device and no devmap entry holds it. Its maps stay (xdpsim does not free maps).
   */
  unloadObject(obj: BpfObject): void {
    this.assertRunning();
    if (typeof obj !== 'object' || obj === null || typeof obj.progs !== 'object' || obj.progs === null) throw new XdpsimError(EBADF, `unloadObject: ${String(obj)} is not an object loadObject() returned`);
    if (this.unloaded.has(obj)) throw new XdpsimError(EINVAL, `object ${obj.path} is already unloaded`);
    this.unloaded.add(obj);
    for (const p of Object.values(obj.progs)) this.progPut(p.id);
  }

  setPassHandler(dev: Device, handler: ((p: TapPacket) => void) | null): void {
    this.assertRunning();
    if (handler !== null && typeof handler !== 'function') throw new XdpsimError(EINVAL, `onPass on '${dev.name}': the handler must be a function or null`);
    if (handler) this.passHandlers.set(dev.ifindex, handler);
    else this.passHandlers.delete(dev.ifindex);
    this.registry.setTap(dev.ifindex, handler !== null);
  }

  /** Send frames into a device's RX queues (see InjectOptions). Resolves when all were delivered. */
  async inject(dev: Device | string | number, o: InjectOptions = {}): Promise<InjectResult> {
    this.assertRunning();
    const d = dev instanceof Device ? dev : this.device(dev);
    this.injecting++;
    try {
      return await this.source.inject(d.info, o, () => this.registry.isUp(d.ifindex));
    } finally {
      this.injecting--;
    }
  }

  /**
   * Generate traffic on the wire of a device's RX queues (see
   * GenerateOptions): each queue's CPU generates its share, with frames
   * prepared ahead and recycled (src/cpu/wiregen.ts). Resolves once every
   * queue's generator runs; wait on `done` for the result.
   */
  async generate(dev: Device | string | number, o: GenerateOptions = {}): Promise<Generation> {
    this.assertRunning();
    const d = dev instanceof Device ? dev : this.device(dev);
    const reg = this.registry;
    const gid = this.nextGenId++;
    const planned = await planGeneration({
      name: d.name, ifindex: d.ifindex, rxq: d.info.rxq,
      cpuOf: (q) => this.devs.rxqCpu(q), ringSize: (q) => this.devs.ring(q).size,
      maxLen: reg.word(d.ifindex, DT_MTU) + reg.word(d.ifindex, DT_HARD_HEADER_LEN) + VLAN_HLEN,
      maxLinearLen: this.pool.maxLinearLen, frameSize: this.pool.frameSize, isUp: () => reg.isUp(d.ifindex),
    }, o, gid);
    /* reading a capture took a while: the runtime may be stopping, or the queues taken meanwhile */
    this.assertRunning();
    /* one wire per queue: a second generation on a queue would share its frames' sequence */
    const busy = planned.plans.find((p) => this.genQueues.has(p.q));
    if (busy !== undefined) throw new XdpsimError(EBUSY, `generate on '${d.name}': RX queue ${d.info.rxq.indexOf(busy.q)} already has a running generator (stop it, or wait for it)`);
    const cpus = new Set(planned.plans.map((p) => this.devs.rxqCpu(p.q)));
    for (const c of cpus) if (this.deadCpus.has(c)) throw new XdpsimError(ESRCH, `generate on '${d.name}': cpu ${c}, which polls one of its RX queues, is dead (${this.deadWhy.get(c)})`);
    for (const p of planned.plans) this.genQueues.add(p.q);
    const started = Promise.all(planned.plans.map((p) => this.apis[this.devs.rxqCpu(p.q)]!.startGen(p)));
    const gen = new Generation(planned, (q) => this.devs.rxqCpu(q), (q) => d.info.rxq.indexOf(q), started, async () => {
      await started.catch(() => {});
      await this.onCpus((a, c) => (cpus.has(c) ? a.stopGen(gid) : Promise.resolve()));
    });
    this.generations.add(gen);
    const forget = (): void => {
      this.generations.delete(gen);
      for (const p of planned.plans) this.genQueues.delete(p.q);
    };
    gen.done.then(forget, forget);
    await started;
    return gen;
  }

  /**
   * Keep only the trace records (xdp:* and bpf_trace_printk) that pass
   * `filter`: events by name, a device (ifindex, from_ifindex or
   * to_ifindex), an err value; null keeps all. Records left out are counted
   * (traceFiltered). A disabled tracepoint is cheaper still: setTracepoints.
   */
  setTraceFilter(filter: TraceFilter | null): void {
    validateTraceFilter(filter);
    if (filter?.events) {
      for (const n of filter.events) if (n !== 'bpf_trace_printk' && !TP_NAMES.includes(n as TracepointName) && !MAIN_EVENTS.includes(n as (typeof MAIN_EVENTS)[number])) throw new XdpsimError(EINVAL, `trace filter: no event ${n} (known: ${[...TP_NAMES, ...MAIN_EVENTS].join(', ')}, bpf_trace_printk)`);
    }
    this.traceFilter = filter;
  }
  /** Trace records the filter left out so far. */
  traceFiltered = 0;

  /** Enable or disable tracepoints by name, on every CPU. */
  async setTracepoints(names: Array<TracepointName | (typeof MAIN_EVENTS)[number]> | 'all', on: boolean): Promise<void> {
    const list = names === 'all' ? [...TP_NAMES, ...MAIN_EVENTS] : names;
    for (const n of list) {
      if (n === 'xdpsim_rcu_gp') {
        /* recorded on the main thread, where grace periods are waited for */
        this.rcu.onGp = on ? (gp, us) => this.takeTrace({ cpu: -1, ts: this.clock(), event: 'xdpsim_rcu_gp', gp, latency_ns: Math.round(us * 1000) }) : null;
        continue;
      }
      const i = TP_NAMES.indexOf(n);
      if (i < 0 || i >= TP_COUNT) throw new XdpsimError(EINVAL, `no tracepoint ${n} (known: ${[...TP_NAMES, ...MAIN_EVENTS].join(', ')})`);
      await this.onCpus((a) => a.setTracepoint(i, on));
    }
  }

  /** Trace records collected so far (the last `traceKeep`), oldest first. */
  traceEvents(filter?: TraceEvent['event']): TraceEvent[] {
    this.collect();
    return filter ? this.kept.filter((e) => e.event === filter) : [...this.kept];
  }
  clearTraceEvents(): void {
    this.collect();
    this.kept.length = 0;
  }

  /** Drain the CPUs' trace and tap rings (also runs every 10 ms). */
  /* one trace record into the stream: the filter, the kept records, the logger, the listeners */
  private readonly takeTrace = (e: TraceEvent): void => {
    if (this.traceFilter !== null && !traceFilterPasses(this.traceFilter, e)) {
      this.traceFiltered++;
      return;
    }
    this.kept.push(e);
    this.logger?.info(e);
    this.deliver(() => this.emit('trace', e), 'trace listener');
  };

  collect(): void {
    const take = this.takeTrace;
    for (const r of this.readers) r.drain(take);
    this.printks.forEach((p, cpu) => p.drain(cpu, take));
    if (this.kept.length > this.traceKeep) this.kept.splice(0, this.kept.length - this.traceKeep);
    for (const t of this.taps) {
      t.drain((p) => {
        const h = this.passHandlers.get(p.ifindex);
        if (h) this.deliver(() => h(p), 'onPass handler');
      });
    }
    for (const r of this.capRings) {
      r.drain((f) => {
        for (const c of this.captures) if (c.owns(f.ifindex)) c.write(f);
      });
    }
    if (this.deadCpus.size > 0 && !this.stopped) this.purgeDead();
  }

  /**
   * Capture devices' frames into a pcapng file (see src/capture.ts): at
   * XDP entry, exit (with the verdict) and/or transmit. A device is in at
   * most one capture at a time (EBUSY). Resolves `done` when `count`
   * packets were written, or at stopCapture() / stop().
   */
  startCapture(devs: Array<Device | string | number>, o: CaptureOptions): Capture {
    this.assertRunning();
    if (!Array.isArray(devs)) throw new XdpsimError(EINVAL, 'capture: devices must be an array of devices, names or ifindexes');
    if (typeof o !== 'object' || o === null) throw new XdpsimError(EINVAL, 'capture: options (file, points, snaplen, count) must be an object');
    const list = devs.map((d) => (d instanceof Device ? d : this.device(d)));
    if (list.length === 0) throw new XdpsimError(EINVAL, 'capture: no device');
    const points = o.points ?? ['entry', 'exit'];
    for (const p of points) if (p !== 'entry' && p !== 'exit' && p !== 'xmit') throw new XdpsimError(EINVAL, `capture: point '${p as string}': one of entry, exit, xmit`);
    if (points.length === 0) throw new XdpsimError(EINVAL, 'capture: no capture point');
    const snap = o.snapLen ?? 262144;
    if (!Number.isInteger(snap) || snap < 1 || snap > 262144) throw new XdpsimError(EINVAL, `capture: snap length ${snap} outside 1..262144`);
    if (o.count !== undefined && !(Number.isInteger(o.count) && o.count >= 1)) throw new XdpsimError(EINVAL, `capture: count ${o.count} must be a positive integer`);
    for (const d of list) {
      for (const c of this.captures) if (c.owns(d.ifindex)) throw new XdpsimError(EBUSY, `capture: '${d.name}' is already being captured into ${c.file}`);
    }
    const lost = (): number => {
      let n = 0;
      for (let c = 0; c < this.cpus; c++) n += cpuCounters(this.shared.counters, c, this.limits.maxDevices)[CPU_CAP_LOST]!;
      return n;
    };
    /* ns since the Unix epoch of the runtime clock's zero, without float rounding at 1e18 */
    const ms = Math.trunc(this.shared.epochMs);
    const epochNs = BigInt(ms) * 1_000_000n + BigInt(Math.round((this.shared.epochMs - ms) * 1e6));
    for (const d of list) if (d.deleted) throw new XdpsimError(ENODEV, `capture: '${d.name}' was deleted`);
    const bits = pointBits(points);
    const cap = new Capture(o, list.map((d) => ({ ifindex: d.ifindex, name: d.name })), Math.min(snap, this.limits.frameSize), epochNs, lost,
      (c) => this.releaseCapture(c), bits, this.clock());
    this.captures.add(cap);
    for (const d of list) this.registry.setCapture(d.ifindex, bits, snap);
    return cap;
  }

  /* a capture's devices stop capturing (its count was reached, or it is being stopped) */
  private releaseCapture(c: Capture): void {
    this.disarmCapture(c);
    queueMicrotask(() => this.finishCapture(c));
  }

  private disarmCapture(c: Capture): void {
    for (const d of this.devices.values()) if (c.owns(d.ifindex) && !d.deleted) this.registry.setCapture(d.ifindex, 0, 0);
  }

  private finishCapture(c: Capture): void {
    if (!this.captures.has(c)) return;
    this.collect();
    this.captures.delete(c);
    c.close();
  }

  /** Stop a capture: its devices stop copying, what the rings hold is written, the file is closed. */
  async stopCapture(c: Capture): Promise<CaptureResult> {
    if (!this.captures.has(c)) return c.result();
    this.disarmCapture(c);
    /* a CPU may be in the middle of a poll that read the old bits: give it one */
    await new Promise((r) => setTimeout(r, 5));
    this.finishCapture(c);
    return c.result();
  }

  /* A user callback that throws is reported ('callback-error') and does not stop the collector. */
  private deliver(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.logger?.error({ err }, `${what} threw`);
      if (this.listenerCount('callback-error') > 0) this.emit('callback-error', err, what);
      else process.emitWarning(`xdpsim: ${what} threw: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  /** True when no frame waits in any RX ring and every CPU sleeps. */
  isQuiescent(): boolean {
    if (this.injecting > 0 || this.generations.size > 0) return false;
    for (let c = 0; c < this.cpus; c++) if (!this.deadCpus.has(c) && Atomics.load(this.cpuctl, c * CC_WORDS + CC_SLEEPING) === 0) return false;
    for (const d of this.devices.values()) {
      if (!d.deleted) for (const q of d.info.rxq) if (!this.devs.ring(q).empty() && !this.deadCpus.has(this.devs.rxqCpu(q))) return false;
    }
    /* a retired cpumap entry is not done until its kthread drained its queue and stopped */
    for (const m of this.cpumaps) if (m.retiring() > 0 || m.anyQueued()) return false;
    /* an AF_XDP socket kicked for TX whose CPU has not started yet */
    for (const s of this.xsks.values()) if (s.bound && s.txKicked) return false;
    return true;
  }

  /** Wait until the data path is idle (isQuiescent twice in a row); false on timeout. */
  async quiesce(timeoutMs = 5000): Promise<boolean> {
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) throw new XdpsimError(EINVAL, `quiesce: timeoutMs ${String(timeoutMs)} must be a non-negative number`);
    const end = performance.now() + timeoutMs;
    let seen = 0;
    while (performance.now() < end) {
      if (this.isQuiescent()) {
        if (++seen >= 2) return true;
      } else seen = 0;
      await new Promise((r) => setTimeout(r, 1));
    }
    return false;
  }

  /**
   * The last dropped frame of each drop reason (the newest over all CPUs):
   * device, CPU, time, length and flow. Frames dropped by the control plane
   * (purged rings) and frames a generator missed (they never existed) are
   * counted but not noted.
   */
  lastDrops(): Array<DropNote & { device: string }> {
    const best = new Map<string, DropNote>();
    for (let c = 0; c < this.cpus; c++) {
      for (const n of readDropNotes(this.shared.dropNote[c]!, c)) {
        const b = best.get(n.reason);
        if (b === undefined || n.ts > b.ts) best.set(n.reason, n);
      }
    }
    return DROP_REASONS.filter((r) => best.has(r)).map((r) => {
      const n = best.get(r)!;
      return { ...n, device: this.devices.get(n.ifindex)?.name ?? `ifindex ${n.ifindex}` };
    });
  }

  /** Counters of every CPU and device, totals, and the frame conservation check. */
  stats(): Stats {
    const maxDev = this.limits.maxDevices;
    const blocks = Array.from({ length: this.cpus + 1 }, (_, c) => cpuCounters(this.shared.counters, c, maxDev));
    const cpus: CpuStats[] = [];
    for (let c = 0; c < this.cpus; c++) {
      const b = blocks[c]!;
      cpus.push({
        cpu: c, polls: b[CPU_POLLS]!, flushes: b[CPU_FLUSHES]!, qs: b[CPU_QS]!, sleeps: b[CPU_SLEEPS]!,
        wakeups: b[CPU_WAKEUPS]!, bad_frees: b[CPU_BAD_FREES]!, trace_lost: b[CPU_TRACE_LOST]!, tap_lost: b[CPU_TAP_LOST]!, cap_lost: b[CPU_CAP_LOST]!,
        gp_violations: b[CPU_GP_VIOLATIONS]!, rcu_checked: b[CPU_RCU_CHECKED]!,
        rcu_pipeline: [0, 1, 2, 3].map((i) => b[CPU_PIPE + i]!), qs_with_pending_bulk: b[CPU_QS_PENDING]!,
        prog_use_after_free: b[CPU_PROG_UAF]!,
        cpumap: {
          enqueued: b[CPU_CPUMAP_ENQ]!, enqueue_drops: b[CPU_CPUMAP_ENQ_DROPS]!, kthread_processed: b[CPU_CPUMAP_KT_PROCESSED]!,
          kthread_pass: b[CPU_CPUMAP_KT_PASS]!, kthread_drop: b[CPU_CPUMAP_KT_DROP]!, kthread_redirect: b[CPU_CPUMAP_KT_REDIRECT]!,
          kthread_sched: b[CPU_CPUMAP_KT_SCHED]!,
        },
        sleeping: Atomics.load(this.cpuctl, c * CC_WORDS + CC_SLEEPING) !== 0,
        last_exception: readExcNote(this.shared.excNote[c]!),
        dead: this.deadWhy.get(c) ?? null,
      });
    }
    const totals = { injected: 0, clones: 0, xsk_tx: 0, rx_packets: 0, stack: 0, xmit_consumed: 0, xsk_rx: 0, dropped: 0, dropReasons: emptyReasons(), in_flight: 0 };
    const devices: DeviceStats[] = [];
    for (const d of this.devices.values()) {
      const row = devRow(d.ifindex);
      const sum = Object.fromEntries(DEV_COUNTER_NAMES.map((n) => [n, 0])) as DeviceCounters;
      const reasons = emptyReasons();
      const perCpu: DeviceCpuStats[] = [];
      for (let c = 0; c <= this.cpus; c++) {
        const b = blocks[c]!;
        const pc = { dropReasons: emptyReasons() } as DeviceCpuStats;
        DEV_COUNTER_NAMES.forEach((n, i) => {
          pc[n] = b[row + i]!;
          sum[n] += b[row + i]!;
        });
        pc.drops = 0;
        DROP_REASONS.forEach((r, i) => {
          pc.dropReasons[r] = b[row + DEV_FIXED + i]!;
          reasons[r] += b[row + DEV_FIXED + i]!;
          pc.drops += b[row + DEV_FIXED + i]!;
        });
        sum.drops += pc.drops;
        if (c < this.cpus) perCpu.push(pc); /* block `cpus` (the control plane) counts only in the sums */
      }
      const st = this.registry.word(d.ifindex, DT_STATE);
      devices.push({
        ifindex: d.ifindex, name: d.name, kind: DEVICE_KIND_NAMES[this.registry.word(d.ifindex, DT_KIND)] ?? '?',
        up: (st & DS_UP) !== 0, mtu: this.registry.word(d.ifindex, DT_MTU), xdp_prog_id: this.registry.word(d.ifindex, DT_PROG),
        xdp_features: this.registry.word(d.ifindex, DT_FEATURES), registered: !d.deleted, ...sum, dropReasons: reasons, perCpu,
      });
      totals.injected += sum.injected;
      totals.clones += sum.clones;
      totals.xsk_tx += sum.xsk_tx;
      totals.xsk_rx += sum.xsk_rx;
      totals.rx_packets += sum.rx_packets;
      totals.stack += sum.stack;
      totals.xmit_consumed += sum.xmit_consumed;
      totals.dropped += sum.drops;
      for (const r of DROP_REASONS) totals.dropReasons[r] += reasons[r];
    }
    totals.in_flight = totals.injected + totals.clones + totals.xsk_tx - totals.stack - totals.xmit_consumed - totals.xsk_rx - totals.dropped;
    const frames = this.shared.pool.nframes;
    const inUse = countFramesInUse(this.shared.pool);
    const frags = countFragFramesInUse(this.shared.pool);
    const free = countFreeFrames(this.shared.pool);
    /* after stop() nothing may be in flight: every frame is back in the pool */
    const rest = !this.stopped || inUse + frags === 0;
    return { cpus, devices, totals, pool: { frames, free, in_use: inUse, frags }, conserved: totals.in_flight === inUse && free + inUse + frags === frames && rest, rcu: { ...this.rcu.stats(), programsFreed: this.progsFreed } };
  }

  private assertRunning(): void {
    if (this.stopping) throw new XdpsimError(ESRCH, 'the runtime is stopped');
  }

  /**
   * Stop: wait for traffic to drain (up to drainTimeoutMs), stop every CPU
   * after its current poll, purge what is left in RX rings (counted as
   * SHUTDOWN drops), collect the last trace records, and return the final
   * stats. No handle stays open: the process can exit by itself.
   */
  async stop(): Promise<Stats> {
    if (this.stopped) return this.stats();
    if (this.stopping) throw new XdpsimError(ESRCH, 'stop() is already in progress');
    this.stopping = true;
    /* running injections stop at their next batch and give back what they hold */
    this.source.aborted = true;
    await Promise.all([...this.generations].map((g) => g.stop()));
    while (this.injecting > 0) await new Promise((r) => setTimeout(r, 1));
    await this.quiesce(this.drainTimeoutMs);
    for (let c = 0; c < this.cpus; c++) {
      Atomics.store(this.cpuctl, c * CC_WORDS + CC_STATE, CS_STOP);
      Atomics.add(this.cpuctl, c * CC_WORDS + CC_BELL, 1);
      Atomics.notify(this.cpuctl, c * CC_WORDS + CC_BELL);
    }
    /* a CPU stuck in a program that never returns is terminated after stopTimeoutMs */
    const timedOut = await Promise.race([
      Promise.all(this.exits).then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), this.stopTimeoutMs).unref()),
    ]);
    if (timedOut) {
      this.workers.forEach((w, cpu) => {
        if (!this.deadCpus.has(cpu) && Atomics.load(this.cpuctl, cpu * CC_WORDS + CC_STATE) !== CS_STOPPED) {
          const why = `stuck in a program: did not leave its poll within stopTimeoutMs ${this.stopTimeoutMs} of stop(); its worker was terminated`;
          this.cpuDied(cpu, why);
          this.logger?.error({ cpu }, why);
          void w.terminate();
        }
      });
      await Promise.all(this.exits);
    }
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    for (const a of this.apis) a[Comlink.releaseProxy]();
    if (this.deadCpus.size > 0) this.purgeDead();
    this.purgeRings();
    if (this.deadCpus.size > 0) this.reclaimDead();
    if (this.collector) clearInterval(this.collector);
    this.collector = null;
    this.collect();
    for (const c of [...this.captures]) this.finishCapture(c);
    if (this.control !== null) await this.control.close();
    this.control = null;
    this.stopped = true;
    return this.stats();
  }

  /* A closing device frees what its rings still hold: count those frames. */
  private purgeRings(): void {
    for (const d of this.devices.values()) if (!d.deleted) for (const q of d.info.rxq) this.purgeQueue(q, d.ifindex, DR_SHUTDOWN);
    /* cpumap queues whose kthread stopped with the CPU: the frames count on their receiving device */
    const batch = new Int32Array(256);
    const ctr = this.devs.counters;
    for (const m of this.cpumaps) {
      for (const r of m.usedRecords()) {
        for (let n = m.consume(r, batch, batch.length); n > 0; n = m.consume(r, batch, batch.length)) {
          for (let k = 0; k < n; k++) {
            countDrops(ctr, devRow(this.pool.meta[batch[k]! * FM_WORDS + FM_INGRESS]!), DR_SHUTDOWN, 1);
            this.pool.free(batch[k]!);
          }
        }
        m.freeAfterStop(r);
      }
    }
    this.pool.flushReturns();
  }

  /* Free every frame left in RX ring q (no CPU polls it any more), as drops of `reason` on the device. */
  private purgeQueue(q: number, ifindex: number, reason: number): void {
    const batch = new Int32Array(256);
    const ctr = this.devs.counters;
    const row = devRow(ifindex);
    const ring = this.devs.ring(q);
    for (let n = ring.consume(batch, batch.length); n > 0; n = ring.consume(batch, batch.length)) {
      for (let k = 0; k < n; k++) this.pool.free(batch[k]!);
      countDrops(ctr, row, reason, n);
    }
    this.pool.flushReturns();
  }

}

/*
 * Every public method of the library's runtime and devices fails with an
 * XdpsimError (src/shared/api-guard.ts): what the runtime does not check by
 * name (a packet builder's RangeError, ENOENT reading a file) is turned
 * into one at this boundary.
 */
guardApi(Runtime.prototype, 'Runtime', [
  'cpuCode', 'device', 'xskSocket', 'closeXsk', 'listDevices', 'createVeth', 'createSink', 'loadObject', 'createMap',
  'listen', 'setRcuChecking', 'synchronizeRcu', 'callRcu', 'rcuBarrier', 'deleteDevice', 'prog', 'attachXdp', 'unloadObject',
  'setPassHandler', 'inject', 'generate', 'setTraceFilter', 'setTracepoints', 'traceEvents', 'startCapture', 'stopCapture',
  'quiesce', 'lastDrops', 'stop',
]);
guardApi(Device.prototype, 'Device', ['up', 'down', 'setMtu', 'attachXdp', 'detachXdp', 'onPass', 'inject', 'generate', 'delete']);
