/*
 * One simulated CPU: its NAPI polls, the XDP verdicts, its XDP_TX bulk
 * queues and xdp_do_flush().
 *
 * Everything in this object is per-CPU state in the kernel's sense: it lives
 * in the heap of the CPU's own worker thread and only that thread touches it
 * (bpf_redirect_info, the bulk queues and the flush list, the XdpMd, the
 * program table). What it shares with other threads goes through
 * src/shared: frames (the pool), RX rings (NetDevices), its counter block
 * (written only here), its trace and tap rings (produced only here).
 *
 * A NAPI poll (napiPoll) takes at most `budget` frames from one RX queue,
 * runs the device's XDP program on each, acts on the verdict, then calls
 * xdpDoFlush() before returning; a round of polls (pollAll) reports one
 * quiescent state after its polls. Nothing here allocates, awaits or logs
 * per frame.
 */
import {
  FramePool, FM_DATA, FM_INGRESS, FM_LEN, FM_METASIZE, FM_RXQ, FM_WORDS, MAX_SKB_FRAGS, SKB_SHARED_INFO_SIZE, XDP_FRAME_SIZE,
} from '../shared/frame-pool.ts';
import {
  CC_QS, CC_RXQ_SEEN, CC_WORDS, DS_REGISTERED, DS_UP, DT_CAP, DT_CAPLEN, DT_PROG, DT_STATE, DT_TAP, DT_WORDS, G_GP_DONE, G_GP_STARTED, G_RXQ_GEN,
  RQ_CPU, RQ_IFINDEX, RQ_INDEX, RQ_WORDS, writeExcNote, type SharedState,
} from '../shared/layout.ts';
import {
  CPU_BAD_FREES, CPU_CAP_LOST, CPU_FLUSHES, CPU_GP_VIOLATIONS, CPU_PIPE, CPU_POLLS, CPU_POLL_DEV, CPU_PROG_UAF, CPU_QS_PENDING, CPU_RCU_CHECKED, CPU_QS, CPU_TAP_LOST, CPU_TRACE_LOST, countDrops,
  DEV_RX_BYTES, DEV_RX_PACKETS, DEV_STACK, DEV_XDP_ABORTED, DEV_XDP_DROP, DEV_XDP_EXCEPTION,
  DEV_XDP_INVALID, DEV_XDP_PASS, DEV_XDP_REDIRECT, DEV_XDP_TX, DEV_XDP_TX_ERR, DEV_XDP_TX_SENT,
  DR_DEV_READY, DR_XDP_ABORTED, DR_XDP_DROP, DR_XDP_EXCEPTION, DR_XDP_INVALID_ACTION, DR_REDIRECT_ERR,
  DR_XDP_TX_ERR, CPU_WORDS, DEV_WORDS, DROP_REASONS, cpuCounters, devRow,
} from '../shared/counters.ts';
import { TP_XDP_BULK_TX, TP_XDP_EXCEPTION, TP_XDPSIM_DROP, TraceWriter } from '../shared/trace.ts';
import { TapRing } from '../shared/tap.ts';
import { DROP_NOTE_POLLS, DropNoteWriter } from '../shared/dropnote.ts';
import { CAP_ENTRY, CAP_EXIT, CAP_XMIT, CaptureRing } from '../shared/capring.ts';
import { rcuWakeWriters } from '../shared/rcu.ts';
import { NetDevices } from '../driver/netdev.ts';
import { XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX, DEV_MAP_BULK_SIZE, XDP_XMIT_FLUSH } from '../shared/uapi.ts';
import { DevBulk, RedirectInfo, xdpDoRedirect } from './redirect.ts';
import { CpumapFlushList, CpumapKthreads, cpuMapFlush, cpuMapPending } from './cpumap.ts';
import { XskTable } from './xsk.ts';
import { XdpMd, runLimit, type XdpProgFn } from './program.ts';
import { GEN_DEV_DOWN, GEN_RUNNING, GEN_STARTING, GEN_STOPPED, type WireGen } from './wiregen.ts';

/** VETH_XDP_TX_BULK_SIZE: frames an XDP_TX bulk queue holds before it is sent. */
export const XDP_TX_BULK_SIZE = DEV_MAP_BULK_SIZE;

const NOTE_ALL = (1 << DROP_REASONS.length) - 1;

/*
 * What a program threw, as a line for the exception note, for any value a
 * program can throw: an Error's message, a string, a primitive; an object
 * whose message or toString throws (or a Proxy whose traps do) is named by
 * its kind, never allowed to throw out of the CPU's poll.
 */
export function describeThrown(e: unknown): string {
  try {
    if ((typeof e === 'object' && e !== null) || typeof e === 'function') {
      const m: unknown = (e as { message?: unknown }).message;
      if (typeof m === 'string') return m;
    } else if (typeof e === 'string') {
      return e;
    } else {
      return `threw ${typeof e === 'bigint' ? `${e}n` : String(e)}`;
    }
  } catch {
    /* a getter or a trap threw: describe it by its kind below */
  }
  try {
    return `threw ${Object.prototype.toString.call(e)}`;
  } catch {
    return 'threw a value that cannot be described';
  }
}

/* planted fault early-qs (Cpu.earlyQs): how long a poll is held open at most, and how often */
const EARLY_QS_HOLD_MS = 50;
const EARLY_QS_EVERY_MS = 20;

export class Cpu {
  readonly cpu: number;
  readonly pool: FramePool;
  readonly devs: NetDevices;
  readonly ctr: Float64Array;
  readonly trace: TraceWriter;
  readonly budget: number;
  readonly ri = new RedirectInfo();
  readonly devBulk: DevBulk;
  /** cpumap bulk queues waiting for xdp_do_flush(), and the cpumap kthreads bound to this CPU */
  readonly cpumapFlush = new CpumapFlushList();
  readonly kthreads: CpumapKthreads;
  /** AF_XDP sockets: every socket by id (XSKMAP targets), the xsk flush list, TX of the sockets of this CPU's queues */
  readonly xsk: XskTable;
  /** program id -> function; filled by the control plane's loadObject */
  readonly progs: (XdpProgFn | undefined)[] = [];
  private readonly tap: TapRing;
  private readonly cap: CaptureRing;
  /* the polled device's capture points and snap length (DT_CAP, DT_CAPLEN), read once per poll */
  private capBits = 0;
  private capLen = 0;
  private readonly clock: () => number;
  private readonly dropNote: DropNoteWriter;
  /* drop notes (src/shared/dropnote.ts): a bit per reason still to be noted, re-armed every DROP_NOTE_POLLS polls and when idle */
  private noteArmed = NOTE_ALL;
  /* a BPF run of this poll was ended at the instruction limit: a quiescent state before the next frame */
  private qsNext = false;
  private pollSeq = 0;
  private readonly excNote: SharedArrayBuffer;
  private readonly cpuctl: Int32Array;
  readonly global: Int32Array;
  private readonly rxqtab: Int32Array;
  private readonly ctx = new XdpMd();
  private readonly batch: Int32Array;
  /* XDP_TX bulk queues, one per receiving ifindex, and the flush list */
  private readonly txq: Int32Array;
  private readonly txCount: Int32Array;
  private readonly txFlushList: Int32Array;
  private txFlushLen = 0;
  private readonly txBulk: number;
  /* generators on the wire of this CPU's queues, by global queue index */
  private readonly gens: (WireGen | undefined)[] = [];
  private activeGens: WireGen[] = [];
  /* RX queues bound to this CPU, rebuilt when G_RXQ_GEN moves */
  private queues: Int32Array = new Int32Array(0);
  private rxqGen = -1;
  private qs = 0;
  /* scratch of cloneFrame() for a multi-buffer frame's fragments */
  readonly cloneFrags = new Int32Array(MAX_SKB_FRAGS);
  readonly cloneLens = new Int32Array(MAX_SKB_FRAGS);
  /** false only for benchmarks measuring the cost of the RCU bookkeeping (Runtime option rcu: false) */
  rcuOn = true;
  /** performance.now() at the start of the current round (set by the worker's loop): the generators' clock */
  now = 0;
  /* planted faults (src/shared/rcu.ts RCU_FAULTS): off unless a run asks for them */
  faultEarlyQs = false;
  faultFlushOutside = false;
  /* early-qs: when this CPU may next hold a poll open (earlyQs()), and a word to nap on meanwhile */
  private earlyQsNext = 0;
  private readonly nap = new Int32Array(new SharedArrayBuffer(4));

  constructor(cpu: number, shared: SharedState, clock: () => number) {
    const l = shared.limits;
    this.cpu = cpu;
    this.budget = l.budget;
    this.pool = new FramePool(shared.pool, cpu);
    this.ctr = cpuCounters(shared.counters, cpu, l.maxDevices);
    this.devs = new NetDevices(shared, this.pool, this.ctr);
    this.trace = new TraceWriter(shared.trace[cpu]!, l.traceRingSize, clock);
    this.tap = new TapRing(shared.tap[cpu]!, l.tapRingSize, l.frameSize);
    this.dropNote = new DropNoteWriter(shared.dropNote[cpu]!, clock);
    this.cap = new CaptureRing(shared.capture[cpu]!, l.capRingSize, l.frameSize);
    this.clock = clock;
    this.excNote = shared.excNote[cpu]!;
    this.cpuctl = new Int32Array(shared.cpuctl);
    this.global = new Int32Array(shared.global);
    this.rxqtab = new Int32Array(shared.rxqtab);
    this.batch = new Int32Array(l.budget);
    this.txq = new Int32Array(l.maxDevices * XDP_TX_BULK_SIZE);
    this.txCount = new Int32Array(l.maxDevices);
    this.txFlushList = new Int32Array(l.maxDevices);
    this.devBulk = new DevBulk(this, l.maxDevices, l.bulkSize);
    this.kthreads = new CpumapKthreads(this, l.budget);
    this.xsk = new XskTable(this);
    this.txBulk = l.bulkSize;
    this.ctx.src = this.pool;
    this.ctx.frame_sz = l.frameSize;
    this.ctx.hard_end = l.frameSize - SKB_SHARED_INFO_SIZE;
  }

  /* the programs of runProg's two single-program call sites (see there), and the call site for the others */
  private prog0: XdpProgFn | undefined = undefined;
  private prog1: XdpProgFn | undefined = undefined;
  private progOther(prog: XdpProgFn, ctx: XdpMd): number {
    if (this.prog0 === undefined) this.prog0 = prog;
    else if (this.prog1 === undefined) this.prog1 = prog;
    return prog(ctx) >>> 0;
  }

  /*
   * A freed program: what a CPU finds in the table slot after the control
   * plane freed the program (after its grace period). Running it is a use
   * after free: counted, and the frame is aborted.
   */
  private readonly freedProg = (): number => {
    this.ctr[CPU_PROG_UAF]++;
    return XDP_ABORTED;
  };

  /** Free program `id` on this CPU (the control plane calls it after a grace period). */
  freeProg(id: number): void {
    const fn = this.progs[id];
    if (fn === undefined) return;
    this.progs[id] = this.freedProg;
    /* its call site may serve another program (V8 then no longer inlines there: a speed matter only) */
    if (this.prog0 === fn) this.prog0 = undefined;
    if (this.prog1 === fn) this.prog1 = undefined;
  }

  /** Rebuild the list of RX queues bound to this CPU if the table changed. */
  refreshQueues(): void {
    const gen = Atomics.load(this.global, G_RXQ_GEN);
    if (gen === this.rxqGen) return;
    this.rxqGen = gen;
    const t = this.rxqtab;
    const mine: number[] = [];
    const n = t.length / RQ_WORDS;
    for (let q = 0; q < n; q++) {
      if (Atomics.load(t, q * RQ_WORDS + RQ_IFINDEX) > 0 && Atomics.load(t, q * RQ_WORDS + RQ_CPU) === this.cpu) mine.push(q);
    }
    this.queues = Int32Array.from(mine);
    /* a generator whose queue is no longer this CPU's, or no longer its device's (deleted, reused), ends */
    for (const g of this.activeGens) {
      if (!mine.includes(g.q) || Atomics.load(t, g.q * RQ_WORDS + RQ_IFINDEX) !== g.ifindex) g.stop(GEN_DEV_DOWN);
    }
    this.reapGens();
    Atomics.store(this.cpuctl, this.cpu * CC_WORDS + CC_RXQ_SEEN, gen);
  }

  /** Changes to the queue table this CPU has seen (its queue list is rebuilt on each). */
  queueGen(): number {
    return this.rxqGen;
  }
  /** Does this CPU poll global RX queue q? */
  pollsQueue(q: number): boolean {
    return this.queues.includes(q);
  }

  /** Any frame waiting on one of this CPU's queues (or due from a generator)? */
  hasWork(): boolean {
    const qs = this.queues;
    for (let i = 0; i < qs.length; i++) if (this.devs.ring(qs[i]!).hasWork()) return true;
    if (this.kthreads.hasWork() || this.xsk.hasWork()) return true;
    return this.genDueInMs() === 0;
  }

  /**
   * Start a generator on one of this CPU's queues (the control plane's
   * call, which keeps one generator per queue). The CPU's generators hold
   * at most three quarters of its home's frames: the rest serve clones.
   */
  startGen(g: WireGen): boolean {
    this.gens[g.q]?.stop(GEN_STOPPED);
    this.reapGens();
    let held = 0;
    for (const o of this.activeGens) held += o.framesHeld;
    this.gens[g.q] = g;
    this.activeGens.push(g);
    return g.start(((this.pool.shared.perHome * 3) >> 2) - held);
  }

  /** Stop the generators of generation `gid` (or every generator: -1). */
  stopGen(gid: number, why = GEN_STOPPED): void {
    for (const g of this.activeGens) if (gid < 0 || g.plan.gid === gid) g.stop(why);
    this.reapGens();
  }

  private reapGens(): void {
    const live = this.activeGens.filter((g) => g.state === GEN_RUNNING || g.state === GEN_STARTING);
    if (live.length === this.activeGens.length) return;
    for (const g of this.activeGens) if (!live.includes(g) && this.gens[g.q] === g) this.gens[g.q] = undefined;
    this.activeGens = live;
  }

  /** ms until a running generator has a frame due: 0 now, -1 none running. */
  genDueInMs(): number {
    const gs = this.activeGens;
    if (gs.length === 0) return -1;
    const now = performance.now();
    let best = -1;
    for (let i = 0; i < gs.length; i++) {
      const d = gs[i]!.dueInMs(now);
      if (d >= 0 && (best < 0 || d < best)) best = d;
    }
    if (best < 0) this.reapGens();
    return best;
  }

  /**
   * One round, as one net_rx_action() softirq: a NAPI poll of every bound
   * queue (each ends with its xdp_do_flush()), then one quiescent state for
   * the round, as the kernel's comes after the softirq; then the cpumap
   * kthreads and AF_XDP TX.
   */
  pollAll(): number {
    this.refreshQueues();
    const qs = this.queues;
    let work = 0;
    for (let i = 0; i < qs.length; i++) {
      work += this.napiPoll(qs[i]!);
      /* planted fault: a quiescent state, then the bulk queues flushed after it */
      if (this.faultFlushOutside) {
        this.quiescentState();
        this.xdpDoFlush();
      }
    }
    this.quiescentState();
    /* the cpumap kthreads of this CPU, each for at most a NAPI budget, each followed by a quiescent state */
    work += this.kthreads.run();
    /* AF_XDP TX of the sockets bound to this CPU's queues (a batch each, while kicked) */
    work += this.xsk.txRound();
    return work;
  }

  /* RCU (src/shared/rcu.ts): a CPU passes a quiescent state between rounds of NAPI polls (never inside one), and wakes writers waiting for one. */
  quiescentState(): void {
    if (!this.rcuOn) {
      /* the benchmark's "compiled out" build: no RCU bookkeeping at all */
      this.ri.reset();
      return;
    }
    const chk = this.ri.check;
    if (chk !== null) {
      this.ctr[CPU_GP_VIOLATIONS] += chk.validate();
      this.ctr[CPU_RCU_CHECKED] = chk.checked;
      for (let i = 0; i < 4; i++) this.ctr[CPU_PIPE + i] = chk.pipeline[i]!;
      /* everything from lookup to flush happens inside one poll: a bulk queue still pending here would outlive the grace period */
      if (this.devBulk.pending() !== 0 || this.txFlushLen !== 0 || cpuMapPending(this) !== 0 || this.xsk.pending() !== 0) this.ctr[CPU_QS_PENDING]++;
    }
    this.ri.reset();
    this.reportQs();
  }

  /*
   * Planted fault early-qs: a quiescent state reported in the middle of a
   * poll, while the records looked up in the first half of the round are
   * still in use. Reported and nothing more, the bug shows only when a
   * writer happens to retire one of those records in the microseconds
   * before the report and its grace period ends in the microseconds after
   * it (a run could miss it). So, as an rcutorture reader is delayed inside
   * its critical section to widen the window, the CPU with the read-side
   * check on holds the poll open (at most EARLY_QS_HOLD_MS, then at most
   * once per EARLY_QS_EVERY_MS): it waits for a writer to retire a record
   * it noted (and take that grace period's snapshot), reports the early
   * quiescent state, and waits for that grace period to end. When both
   * happened, the check at the end of the round finds the record past its
   * grace period (age 1 or more, or freed): the fault is caught by
   * construction. Only a run with the fault planted pays for this.
   */
  private earlyQs(): void {
    const chk = this.ri.check;
    if (chk === null || this.now < this.earlyQsNext) return this.reportQs();
    const g = this.global;
    const end = performance.now() + EARLY_QS_HOLD_MS;
    let retired = chk.heldRetired(Atomics.load(g, G_GP_STARTED));
    while (retired < 0 && performance.now() < end) {
      Atomics.wait(this.nap, 0, 0, 0.1);
      retired = chk.heldRetired(Atomics.load(g, G_GP_STARTED));
    }
    this.reportQs();
    if (retired >= 0) while (Atomics.load(g, G_GP_DONE) <= retired && performance.now() < end) Atomics.wait(this.nap, 0, 0, 0.1);
    this.earlyQsNext = performance.now() + EARLY_QS_EVERY_MS;
  }

  private reportQs(): void {
    this.qs++;
    Atomics.store(this.cpuctl, this.cpu * CC_WORDS + CC_QS, this.qs);
    this.ctr[CPU_QS] = this.qs;
    rcuWakeWriters(this.global);
  }

  /** One NAPI poll of global RX queue q: at most `budget` frames, then xdp_do_flush(). */
  napiPoll(q: number): number {
    /*
     * The queue's and the device's words are read with plain loads, as the
     * kernel reads dev->flags or dev->xdp_prog (READ_ONCE): the control plane
     * writes them, and what it frees waits for a grace period, which this
     * poll's end precedes.
     */
    const t = this.rxqtab;
    /* a queue being released (-1) is no longer ours, even if our list is older than the table */
    const ifindex = t[q * RQ_WORDS + RQ_IFINDEX]!;
    if (ifindex <= 0) {
      this.gens[q]?.stop(GEN_DEV_DOWN);
      return 0;
    }
    const batch = this.batch;
    /* a generator on this queue's wire first (src/cpu/wiregen.ts), then what other threads delivered */
    const g = this.gens[q];
    const ring = this.devs.ring(q);
    /* with frames from other threads waiting too, the wire gets half the budget: neither starves */
    let n = g !== undefined ? g.fill(batch, ring.hasWork() ? this.budget >> 1 : this.budget, this.now) : 0;
    if (n < this.budget) n += ring.consume(batch, this.budget - n, n);
    if (n === 0) return 0;
    const rxq = t[q * RQ_WORDS + RQ_INDEX]!;
    const devtab = this.devs.devtab;
    const d = ifindex * DT_WORDS;
    const state = devtab[d + DT_STATE]!;
    let progId = devtab[d + DT_PROG]!;
    let tapOn = devtab[d + DT_TAP] !== 0;
    this.capBits = devtab[d + DT_CAP]!;
    if (this.capBits !== 0) this.capLen = devtab[d + DT_CAPLEN]!;
    const c = this.ctr;
    const row = devRow(ifindex);
    c[CPU_POLLS]++;
    c[CPU_POLL_DEV] = ifindex;
    if ((++this.pollSeq & (DROP_NOTE_POLLS - 1)) === 0) this.noteArmed = NOTE_ALL;
    c[row + DEV_RX_PACKETS] += n;
    let bytes = 0;

    if ((state & (DS_REGISTERED | DS_UP)) !== (DS_REGISTERED | DS_UP)) {
      /* a device that is down has no wire: its generator ends */
      if (g !== undefined) g.stop(GEN_DEV_DOWN);
      for (let i = 0; i < n; i++) {
        bytes += this.pool.frameLen(batch[i]!);
        this.drop(batch[i]!, row, DR_DEV_READY);
      }
    } else if (progId === 0) {
      for (let i = 0; i < n; i++) {
        bytes += this.pool.frameLen(batch[i]!);
        this.toStack(batch[i]!, row, ifindex, rxq, tapOn);
      }
    } else {
      let capBits = this.capBits;
      for (let i = 0; i < n; i++) {
        const fd = batch[i]!;
        /* xdp_get_buff_len(): a multi-buffer frame counts its fragments too */
        bytes += this.pool.frameLen(fd);
        if (capBits === 0) {
          this.runXdp(progId, fd, ifindex, rxq, row, tapOn);
        } else {
          /* a capture on this device: the frame as it came in, and as the program left it with its verdict */
          if ((capBits & CAP_ENTRY) !== 0) this.capture(fd, ifindex, CAP_ENTRY, -1, progId, rxq);
          const act = this.runProg(progId, fd, ifindex, rxq, 0);
          if ((capBits & CAP_EXIT) !== 0) this.capture(fd, ifindex, CAP_EXIT, act < 0 ? XDP_ABORTED : act, progId, rxq);
          this.verdict(act, progId, fd, ifindex, rxq, row, tapOn);
        }
        /* planted fault: a quiescent state reported in the middle of the poll */
        if (this.faultEarlyQs && i === n >> 1) this.earlyQs();
        /*
         * A BPF run was ended at the instruction limit: flush, and pass a
         * quiescent state before the next frame, as a long softirq passes
         * one (rcu_softirq_qs()), so that a program that never ends holds a
         * grace period for one run, not for a poll of them; then read the
         * device's program and taps again, as a new poll would.
         */
        if (this.qsNext) {
          this.qsNext = false;
          if (i + 1 < n) {
            this.xdpDoFlush();
            this.pool.flushReturns();
            this.quiescentState();
            progId = devtab[d + DT_PROG]!;
            tapOn = devtab[d + DT_TAP] !== 0;
            capBits = this.capBits = devtab[d + DT_CAP]!;
            if (capBits !== 0) this.capLen = devtab[d + DT_CAPLEN]!;
            /* detached meanwhile: the rest of the poll goes to the stack */
            if (progId === 0) {
              for (let k = i + 1; k < n; k++) {
                bytes += this.pool.frameLen(batch[k]!);
                this.toStack(batch[k]!, row, ifindex, rxq, tapOn);
              }
              break;
            }
          }
        }
      }
    }
    c[row + DEV_RX_BYTES] += bytes;
    if (!this.faultFlushOutside) this.xdpDoFlush();
    this.pool.flushReturns();
    return n;
  }

  /**
   * Run program `progId` on frame fd (ingress device, rx queue, egress
   * device for a devmap program) and commit what it did to the buffer.
   * Returns the action, or -1 if the program threw (or is not loaded here).
   */
  runProg(progId: number, fd: number, ingress: number, rxq: number, egress: number): number {
    const prog = this.progs[progId];
    const ctx = this.ctx;
    const meta = this.pool.meta;
    const m = fd * FM_WORDS;
    const data = meta[m + FM_DATA]!;
    const dataEnd = data + meta[m + FM_LEN]!;
    const dataMeta = data - meta[m + FM_METASIZE]!;
    /* ctx.pkt and ctx.dv come from the pool when the program asks for them (XdpMd.src) */
    ctx.fd = fd;
    ctx.data = data;
    ctx.data_end = dataEnd;
    ctx.data_meta = dataMeta;
    ctx.ingress_ifindex = ingress;
    ctx.rx_queue_index = rxq;
    ctx.egress_ifindex = egress;
    let act: number;
    try {
      if (prog === undefined) return -1;
      /*
       * Two call sites that each see one program, so V8 can inline it (a
       * call site that sees several programs cannot): the first two
       * programs this CPU runs get them; any other goes through a third.
       * The verdict is a u32 in the kernel: 2**32 + 2 is XDP_PASS, -1 is
       * 4294967295.
       */
      const p0 = this.prog0;
      const p1 = this.prog1;
      if (prog === p0) act = p0(ctx) >>> 0;
      else if (prog === p1) act = p1(ctx) >>> 0;
      else act = this.progOther(prog, ctx);
    } catch (e) {
      writeExcNote(this.excNote, `prog ${progId} on ifindex ${egress || ingress}: ${describeThrown(e)}`);
      /* a BPF run ended at the instruction limit: the poll passes a quiescent state before its next frame (napiPoll) */
      if (runLimit.hit) {
        runLimit.hit = false;
        this.qsNext = true;
      }
      return -1;
    }
    const d = ctx.data;
    const de = ctx.data_end;
    const dm = ctx.data_meta;
    /* most programs move nothing */
    if (d === data && de === dataEnd && dm === dataMeta) return act;
    /* the verifier would not let a program move these by hand: a frame they no longer describe is an exception */
    if (typeof d !== 'number' || typeof de !== 'number' || typeof dm !== 'number'
      || (d | 0) !== d || (de | 0) !== de || (dm | 0) !== dm || dm < XDP_FRAME_SIZE || dm > d || d > de || de > ctx.hard_end) {
      writeExcNote(this.excNote, `prog ${progId} on ifindex ${egress || ingress}: ctx.data, data_end or data_meta set by hand to values that do not describe the frame`);
      return -1;
    }
    meta[m + FM_DATA] = ctx.data;
    meta[m + FM_LEN] = ctx.data_end - ctx.data;
    meta[m + FM_METASIZE] = ctx.data - ctx.data_meta;
    return act;
  }

  private runXdp(progId: number, fd: number, ifindex: number, rxq: number, row: number, tapOn: boolean): void {
    this.verdict(this.runProg(progId, fd, ifindex, rxq, 0), progId, fd, ifindex, rxq, row, tapOn);
  }

  /* what the verdict does with the frame */
  private verdict(act: number, progId: number, fd: number, ifindex: number, rxq: number, row: number, tapOn: boolean): void {
    const c = this.ctr;
    switch (act) {
      case XDP_PASS:
        c[row + DEV_XDP_PASS]++;
        this.toStack(fd, row, ifindex, rxq, tapOn);
        return;
      case XDP_TX:
        c[row + DEV_XDP_TX]++;
        this.xdpTx(ifindex, fd);
        return;
      case XDP_DROP:
        c[row + DEV_XDP_DROP]++;
        this.drop(fd, row, DR_XDP_DROP);
        return;
      case XDP_REDIRECT: {
        c[row + DEV_XDP_REDIRECT]++;
        /* the frame leaves with its rxq info (xdp_convert_buff_to_frame): only a redirected frame needs it */
        const m = fd * FM_WORDS;
        const meta = this.pool.meta;
        meta[m + FM_INGRESS] = ifindex;
        meta[m + FM_RXQ] = rxq;
        if (xdpDoRedirect(this, fd, ifindex, progId) !== 0) this.drop(fd, row, DR_REDIRECT_ERR);
        return;
      }
      case XDP_ABORTED:
        c[row + DEV_XDP_ABORTED]++;
        if (this.trace.on[TP_XDP_EXCEPTION]) this.trace.emit3(TP_XDP_EXCEPTION, progId, XDP_ABORTED, ifindex);
        this.drop(fd, row, DR_XDP_ABORTED);
        return;
      case -1:
        /* a program that throws is XDP_ABORTED, as a faulting one would be */
        c[row + DEV_XDP_EXCEPTION]++;
        if (this.trace.on[TP_XDP_EXCEPTION]) this.trace.emit3(TP_XDP_EXCEPTION, progId, XDP_ABORTED, ifindex);
        this.drop(fd, row, DR_XDP_EXCEPTION);
        return;
      default:
        /* bpf_warn_invalid_xdp_action(), then the XDP_ABORTED path with the bad act */
        c[row + DEV_XDP_INVALID]++;
        if (this.trace.on[TP_XDP_EXCEPTION]) this.trace.emit3(TP_XDP_EXCEPTION, progId, act, ifindex);
        this.drop(fd, row, DR_XDP_INVALID_ACTION);
    }
  }

  /** The frame goes to the stack of `ifindex` (XDP_PASS, no program, a cpumap kthread's skb): counted, copied to the tap if on, freed. */
  toStack(fd: number, row: number, ifindex: number, rxq: number, tapOn: boolean): void {
    this.ctr[row + DEV_STACK]++;
    if (tapOn) {
      if (!this.tap.put(this.pool, fd, ifindex, rxq, this.cpu)) {
        this.ctr[CPU_TAP_LOST]++;
      }
    }
    this.pool.free(fd);
  }

  /** Copy frame fd into this CPU's capture ring (a full ring loses the copy, counted). */
  capture(fd: number, ifindex: number, point: number, act: number, prog: number, rxq: number): void {
    if (!this.cap.put(this.pool, fd, this.capLen, ifindex, point, act, prog, rxq, this.cpu, this.clock())) this.ctr[CPU_CAP_LOST]++;
  }

  /**
   * Stage copies of frames[from..from+n) about to leave by `ifindex`, if it
   * captures at transmit (after a devmap program, or XDP_TX); returns how
   * many were staged. After the transmit, xmitCaptured(sent) publishes the
   * copies of the frames the device took (a prefix: ndo_xdp_xmit's rule),
   * so a refused frame is not shown as sent. The copies are made before the
   * transmit because a frame on the peer's ring is no longer ours to read.
   */
  stageXmit(ifindex: number, frames: Int32Array, from: number, n: number, act: number, prog: number): number {
    const t = this.devs.devtab;
    const d = ifindex * DT_WORDS;
    if ((t[d + DT_CAP]! & CAP_XMIT) === 0) return 0;
    const snap = t[d + DT_CAPLEN]!;
    const ts = this.clock();
    let k = 0;
    while (k < n && this.cap.stage(k, this.pool, frames[from + k]!, snap, ifindex, CAP_XMIT, act, prog, 0, this.cpu, ts)) k++;
    return k;
  }
  xmitCaptured(staged: number, sent: number): void {
    if (staged === 0 && sent <= 0) return;
    const s = sent < 0 ? 0 : sent;
    this.cap.publish(staged < s ? staged : s);
    if (staged < s) this.ctr[CPU_CAP_LOST] += s - staged;
  }

  /** Free a frame, counting it under `reason` on the device row `row` (and noting it, once per reason per poll). */
  drop(fd: number, row: number, reason: number): void {
    countDrops(this.ctr, row, reason, 1);
    if ((this.noteArmed & (1 << reason)) !== 0) this.noteDrop(fd, row, reason);
    if (this.trace.on[TP_XDPSIM_DROP]) this.trace.emit3(TP_XDPSIM_DROP, (row - CPU_WORDS) / DEV_WORDS, reason, this.pool.frameLen(fd));
    this.pool.free(fd);
  }

  /** The CPU goes idle: the next drop of any reason is noted (a note is then as fresh as the traffic). */
  rearmDropNotes(): void {
    this.noteArmed = NOTE_ALL;
  }

  private noteDrop(fd: number, row: number, reason: number): void {
    this.noteArmed &= ~(1 << reason);
    const pool = this.pool;
    const m = fd * FM_WORDS;
    this.dropNote.note(reason, (row - CPU_WORDS) / DEV_WORDS, pool.data, pool.base(fd) + pool.meta[m + FM_DATA]!, pool.meta[m + FM_LEN]!, pool.frameLen(fd));
  }

  /* veth_xdp_tx(): queue for transmission on the receiving device; a full queue is sent first. */
  private xdpTx(ifindex: number, fd: number): void {
    let k = this.txCount[ifindex]!;
    if (k === this.txBulk) {
      this.xdpTxFlush(ifindex, 0);
      k = 0;
    } else if (k === 0) {
      this.txFlushList[this.txFlushLen++] = ifindex;
    }
    this.txq[ifindex * XDP_TX_BULK_SIZE + k] = fd;
    this.txCount[ifindex] = k + 1;
  }

  /*
   * veth_xdp_flush_bq(): send the bulk queue with the device's xmit; what it
   * did not take is freed; record xdp_bulk_tx(ifindex, act, drops, sent, err).
   */
  private xdpTxFlush(ifindex: number, flags: number): void {
    const n = this.txCount[ifindex]!;
    if (n === 0) return;
    const base = ifindex * XDP_TX_BULK_SIZE;
    const staged = this.stageXmit(ifindex, this.txq, base, n, XDP_TX, 0);
    let sent = this.devs.xdpXmit(ifindex, this.cpu, this.txq, base, n, flags, false);
    this.xmitCaptured(staged, sent);
    let err = 0;
    if (sent < 0) {
      err = sent;
      sent = 0;
    }
    const row = devRow(ifindex);
    for (let i = sent; i < n; i++) this.drop(this.txq[base + i]!, row, DR_XDP_TX_ERR);
    const c = this.ctr;
    c[row + DEV_XDP_TX_SENT] += sent;
    c[row + DEV_XDP_TX_ERR] += n - sent;
    if (this.trace.on[TP_XDP_BULK_TX]) this.trace.emit5(TP_XDP_BULK_TX, ifindex, XDP_TX, n - sent, sent, err);
    this.txCount[ifindex] = 0;
  }

  /** xdp_do_flush() plus the driver's own XDP_TX flush: at the end of every NAPI poll. */
  xdpDoFlush(): void {
    const list = this.txFlushList;
    /* veth_poll(): xdp_do_flush() first, then its own XDP_TX bulk, whose send carries XDP_XMIT_FLUSH to wake the receiver */
    this.devBulk.flush();
    if (this.cpumapFlush.len !== 0) cpuMapFlush(this);
    if (this.xsk.pending() !== 0) this.xsk.flush();
    for (let i = 0; i < this.txFlushLen; i++) this.xdpTxFlush(list[i]!, XDP_XMIT_FLUSH);
    this.txFlushLen = 0;
    const c = this.ctr;
    c[CPU_FLUSHES]++;
    c[CPU_BAD_FREES] = this.pool.badFrees;
    c[CPU_TRACE_LOST] = this.trace.lost;
  }
}
