/*
 * Quiescent-state-based RCU over shared memory, as liburcu's QSBR flavour
 * and the kernel's view of NAPI: a CPU is inside a read-side critical
 * section for the whole of a round of NAPI polls (one net_rx_action
 * softirq), reports a quiescent state after each round, and after each
 * cpumap kthread slice (CC_QS, a counter only it writes) and is in an extended
 * quiescent state while it sleeps (CC_SLEEPING). A grace period that began
 * at snapshot S has ended once every CPU has either moved its counter past
 * S or been seen asleep: no poll that could hold a reference from before
 * S is still running. Each snapshot remembers the CPUs seen quiescent
 * (GpSnap.seen), so expiry is monotonic: a CPU seen asleep once counts even
 * if it has woken up since, and an expired snapshot stays expired.
 *
 * Waiting: a writer never blocks its thread and never spins the event loop.
 * It announces itself (G_GP_WAITERS), and a CPU that passes a quiescent
 * state or goes to sleep while writers wait bumps G_GP_WAKE and notifies;
 * the writer waits on that word with Atomics.waitAsync. A timeout on each
 * wait only guards against a CPU that died. Memory retired by the control
 * plane (devmap and cpumap records, programs) is freed by
 * call() callbacks, in order, once their grace period has ended.
 *
 * Concurrency contract: the engine object lives on one thread (the control
 * plane); its callback queue is that thread's. The words it reads are
 * written by the CPUs (CC_QS, CC_SLEEPING, CC_STATE) and by writers
 * (G_GP_WAITERS with Atomics.add/sub, G_GP_WAKE).
 */
import { CC_QS, CC_SLEEPING, CC_STATE, CC_WORDS, CS_STOPPED, G_GP_DONE, G_GP_STARTED, G_GP_WAITERS, G_GP_WAKE } from './layout.ts';

/** Grace-period latency histogram bucket bounds, in microseconds. */
export const GP_LATENCY_BOUNDS_US = [10, 100, 1000, 10_000, 100_000, 1_000_000] as const;

export interface RcuStats {
  /** grace periods waited for and completed */
  gracePeriods: number;
  /** callbacks queued by callRcu and not run yet */
  callbacksPending: number;
  callbacksRun: number;
  /** counts of grace-period latencies below each bound of GP_LATENCY_BOUNDS_US, and above the last */
  latencyHistogramUs: { le: number | null; count: number }[];
  latencyP50Us: number;
  latencyP99Us: number;
}

/** CPU side: called after each NAPI poll and before sleeping, if writers wait. */
export function rcuWakeWriters(global: Int32Array): void {
  if (Atomics.load(global, G_GP_WAITERS) !== 0) {
    Atomics.add(global, G_GP_WAKE, 1);
    Atomics.notify(global, G_GP_WAKE);
  }
}

/**
 * Bugs that can be planted in a run, to prove the checks find them:
 * no-gp frees without waiting, short-gp ignores CPU 0, early-qs makes a CPU
 * report a quiescent state in the middle of a poll, flush-outside makes it
 * flush its bulk queues after the quiescent state.
 */
export const RCU_FAULTS = ['no-gp', 'short-gp', 'early-qs', 'flush-outside'] as const;
export type RcuFault = (typeof RCU_FAULTS)[number];

/**
 * The start of a grace period: every CPU's quiescent-state counter then,
 * its number, and which CPUs have been seen quiescent since. Expiry is
 * monotonic: a CPU seen quiescent once (its counter moved, or it slept,
 * stopped or died) stays seen, so once a snapshot has expired it stays
 * expired, whatever the CPUs do afterwards.
 */
export class GpSnap {
  /** the grace period's number (G_GP_STARTED after it began) */
  readonly gp: number;
  /** each CPU's CC_QS when the grace period began */
  readonly qs: Int32Array;
  /** 1 for each CPU seen quiescent since */
  readonly seen: Uint8Array;
  /** CPUs not yet seen quiescent */
  left: number;
  done = false;
  constructor(gp: number, qs: Int32Array, seen: Uint8Array, left: number) {
    this.gp = gp;
    this.qs = qs;
    this.seen = seen;
    this.left = left;
  }
}

/*
 * Callbacks queued beyond this many (the kernel's qhimark) are invoked by
 * call() itself once their grace period has ended, without waiting for the
 * thread to go back to its event loop: a writer that retires entries in a
 * loop that never yields does not pile up callbacks behind grace periods
 * that are long over (the kernel invokes them from softirq meanwhile).
 */
export const RCU_QHIMARK = 1000;

export class Rcu {
  private readonly cpuctl: Int32Array;
  private readonly global: Int32Array;
  private readonly ncpus: number;
  private readonly dead: Set<number>;
  /* the callback queue, oldest first from qHead (compacted as it empties) */
  private queue: { snap: GpSnap; fn: () => void }[] = [];
  private qHead = 0;
  private invoking = false;
  private draining: Promise<void> | null = null;
  private gps = 0;
  private cbRun = 0;
  private readonly hist = new Array<number>(GP_LATENCY_BOUNDS_US.length + 1).fill(0);
  private readonly samples: number[] = [];

  private readonly noGp: boolean;
  private readonly shortGp: boolean;

  constructor(cpuctl: SharedArrayBuffer, global: SharedArrayBuffer, ncpus: number, dead: Set<number>, faults: readonly RcuFault[] = []) {
    this.noGp = faults.includes('no-gp');
    this.shortGp = faults.includes('short-gp');
    this.cpuctl = new Int32Array(cpuctl);
    this.global = new Int32Array(global);
    this.ncpus = ncpus;
    this.dead = dead;
  }

  /**
   * The start of a grace period: every CPU's quiescent-state counter now,
   * and the grace period's number. A CPU asleep now is quiescent for it
   * already (the kernel's snapshot of a CPU in dynticks-idle).
   */
  snapshot(): GpSnap {
    const n = this.ncpus;
    const qs = new Int32Array(n);
    const seen = new Uint8Array(n);
    let left = n;
    for (let c = 0; c < n; c++) {
      const o = c * CC_WORDS;
      qs[c] = Atomics.load(this.cpuctl, o + CC_QS);
      /* planted fault short-gp: CPU 0 is ignored (counted as quiescent from the start) */
      if ((this.shortGp && c === 0) || Atomics.load(this.cpuctl, o + CC_SLEEPING) !== 0) {
        seen[c] = 1;
        left--;
      }
    }
    return new GpSnap(Atomics.add(this.global, G_GP_STARTED, 1) + 1, qs, seen, left);
  }

  /** Grace periods started so far: a record retired now is covered by the next one. */
  started(): number {
    return Atomics.load(this.global, G_GP_STARTED);
  }

  /** Has the grace period that began at `snap` ended? (non-blocking; once true, always true) */
  expired(snap: GpSnap): boolean {
    if (snap.done) return true;
    if (!this.check(snap)) return false;
    snap.done = true;
    /* publish the highest number ended (read by the read-side check's pipeline) */
    if (snap.gp > Atomics.load(this.global, G_GP_DONE)) Atomics.store(this.global, G_GP_DONE, snap.gp);
    return true;
  }

  /* Note every CPU quiescent now; true once every CPU has been seen quiescent since the snapshot. */
  private check(snap: GpSnap): boolean {
    if (this.noGp) return true; /* planted fault */
    const seen = snap.seen;
    for (let c = 0; c < this.ncpus; c++) {
      if (seen[c] !== 0) continue;
      const o = c * CC_WORDS;
      if (this.dead.has(c) || Atomics.load(this.cpuctl, o + CC_QS) !== snap.qs[c]
        || Atomics.load(this.cpuctl, o + CC_SLEEPING) !== 0 || Atomics.load(this.cpuctl, o + CC_STATE) === CS_STOPPED) {
        seen[c] = 1;
        snap.left--;
      }
    }
    return snap.left === 0;
  }

  /** called at the end of each grace period a writer waited for (the runtime's xdpsim_rcu_gp event) */
  onGp: ((gp: number, latencyUs: number) => void) | null = null;

  private record(t0: number): void {
    const us = (performance.now() - t0) * 1000;
    this.gps++;
    this.onGp?.(Atomics.load(this.global, G_GP_DONE), us);
    let b = 0;
    while (b < GP_LATENCY_BOUNDS_US.length && us > GP_LATENCY_BOUNDS_US[b]!) b++;
    this.hist[b]!++;
    if (this.samples.length < 100_000) this.samples.push(us);
    else this.samples[this.gps % 100_000] = us;
  }

  /** Wait for the grace period that began at `snap` to end, without blocking the thread. */
  async waitFor(snap: GpSnap): Promise<void> {
    const t0 = performance.now();
    if (!this.expired(snap)) {
      Atomics.add(this.global, G_GP_WAITERS, 1);
      try {
        for (;;) {
          const seq = Atomics.load(this.global, G_GP_WAKE);
          if (this.expired(snap)) break;
          const r = Atomics.waitAsync(this.global, G_GP_WAKE, seq, 100);
          if (r.async) await r.value;
        }
      } finally {
        Atomics.sub(this.global, G_GP_WAITERS, 1);
      }
    }
    this.record(t0);
  }

  /** synchronize_rcu(): resolves once every CPU has passed a quiescent state or slept since the call. */
  synchronize(): Promise<void> {
    return this.waitFor(this.snapshot());
  }

  /**
   * call_rcu(): run fn on this thread after a grace period; callbacks run
   * in the order they were queued, from the event loop (or, past
   * RCU_QHIMARK queued, from call() itself once their grace period is over).
   */
  call(fn: () => void): void {
    this.queue.push({ snap: this.snapshot(), fn });
    if (this.queue.length - this.qHead >= RCU_QHIMARK) this.invokeReady();
    if (this.draining === null) this.draining = this.drain();
  }

  /* rcu_do_batch(): run every callback whose grace period is over, in order (not re-entered from a callback) */
  private invokeReady(): void {
    if (this.invoking) return;
    this.invoking = true;
    try {
      while (this.qHead < this.queue.length && this.expired(this.queue[this.qHead]!.snap)) {
        const e = this.queue[this.qHead]!;
        this.queue[this.qHead++] = undefined as never;
        this.cbRun++;
        try {
          e.fn();
        } catch (err) {
          process.emitWarning(`xdpsim: an RCU callback threw: ${(err as Error)?.message ?? String(err)}`);
        }
      }
      if (this.qHead === this.queue.length) {
        this.queue = [];
        this.qHead = 0;
      } else if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.qHead);
        this.qHead = 0;
      }
    } finally {
      this.invoking = false;
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.qHead < this.queue.length) {
        await this.waitFor(this.queue[this.qHead]!.snap);
        this.invokeReady();
      }
    } finally {
      this.draining = null;
    }
  }

  /** rcu_barrier(): resolves once every callback queued before the call has run. */
  async barrier(): Promise<void> {
    while (this.draining !== null) await this.draining;
  }

  stats(): RcuStats {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const q = (p: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
    return {
      gracePeriods: this.gps,
      callbacksPending: this.queue.length - this.qHead,
      callbacksRun: this.cbRun,
      latencyHistogramUs: this.hist.map((count, i) => ({ le: GP_LATENCY_BOUNDS_US[i] ?? null, count })),
      latencyP50Us: q(0.5),
      latencyP99Us: q(0.99),
    };
  }
}
