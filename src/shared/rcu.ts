/*
 * Quiescent-state-based RCU over shared memory, as liburcu's QSBR flavour
 * and the kernel's view of NAPI: a CPU is inside a read-side critical
 * section for the whole of a round of NAPI polls (one net_rx_action
 * softirq), reports a quiescent state after each round, and after each
 * cpumap kthread slice (CC_QS, a counter only it writes) and is in an extended
 * quiescent state while it sleeps (CC_SLEEPING). A grace period that began
 * at snapshot S has ended once every CPU has either moved its counter past
 * S or been seen asleep: no poll that could hold a reference from before
 * S is still running.
 *
 * Waiting: a writer never spins the event loop. It announces itself
 * (G_GP_WAITERS), and a CPU that passes a quiescent state or goes to sleep
 * while writers wait bumps G_GP_WAKE and notifies; the writer waits on that
 * word with Atomics.waitAsync (main thread) or Atomics.wait (blocking form,
 * for threads that may block). A timeout on each wait only guards against a
 * CPU that died.
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

export class Rcu {
  private readonly cpuctl: Int32Array;
  private readonly global: Int32Array;
  private readonly ncpus: number;
  private readonly dead: Set<number>;
  private readonly queue: { snap: Int32Array; fn: () => void }[] = [];
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
   * and (last element) the grace period's number.
   */
  snapshot(): Int32Array {
    const s = new Int32Array(this.ncpus + 1);
    for (let c = 0; c < this.ncpus; c++) s[c] = Atomics.load(this.cpuctl, c * CC_WORDS + CC_QS);
    s[this.ncpus] = Atomics.add(this.global, G_GP_STARTED, 1) + 1;
    return s;
  }

  /** Grace periods started so far: a record retired now is covered by the next one. */
  started(): number {
    return Atomics.load(this.global, G_GP_STARTED);
  }

  /* A grace period ended: publish the highest number ended (read by the read-side check's pipeline). */
  private ended(snap: Int32Array): void {
    const n = snap[this.ncpus];
    if (n !== undefined && n > Atomics.load(this.global, G_GP_DONE)) Atomics.store(this.global, G_GP_DONE, n);
  }

  /** Has the grace period that began at `snap` ended? (non-blocking) */
  expired(snap: Int32Array): boolean {
    const e = this.check(snap);
    if (e) this.ended(snap);
    return e;
  }

  private check(snap: Int32Array): boolean {
    if (this.noGp) return true; /* planted fault */
    for (let c = this.shortGp ? 1 : 0; c < this.ncpus; c++) {
      if (this.dead.has(c)) continue;
      const o = c * CC_WORDS;
      if (Atomics.load(this.cpuctl, o + CC_QS) !== snap[c]) continue;
      if (Atomics.load(this.cpuctl, o + CC_SLEEPING) !== 0) continue;
      if (Atomics.load(this.cpuctl, o + CC_STATE) === CS_STOPPED) continue;
      return false;
    }
    return true;
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
  async waitFor(snap: Int32Array): Promise<void> {
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

  /** The blocking form (Atomics.wait), for a thread that may block; `maxMs` bounds it. Returns false on timeout. */
  synchronizeBlocking(snap: Int32Array = this.snapshot(), maxMs = 10_000): boolean {
    const t0 = performance.now();
    if (!this.expired(snap)) {
      Atomics.add(this.global, G_GP_WAITERS, 1);
      try {
        for (;;) {
          const seq = Atomics.load(this.global, G_GP_WAKE);
          if (this.expired(snap)) break;
          if (performance.now() - t0 > maxMs) return false;
          Atomics.wait(this.global, G_GP_WAKE, seq, 100);
        }
      } finally {
        Atomics.sub(this.global, G_GP_WAITERS, 1);
      }
    }
    this.record(t0);
    return true;
  }

  /** call_rcu(): run fn after a grace period; callbacks run in the order they were queued. */
  call(fn: () => void): void {
    this.queue.push({ snap: this.snapshot(), fn });
    if (this.draining === null) this.draining = this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        await this.waitFor(this.queue[0]!.snap);
        /* every callback whose grace period is over, in order */
        while (this.queue.length > 0 && this.expired(this.queue[0]!.snap)) {
          const { fn } = this.queue.shift()!;
          this.cbRun++;
          try {
            fn();
          } catch (e) {
            process.emitWarning(`xdpsim: an RCU callback threw: ${(e as Error)?.message ?? String(e)}`);
          }
        }
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
      callbacksPending: this.queue.length,
      callbacksRun: this.cbRun,
      latencyHistogramUs: this.hist.map((count, i) => ({ le: GP_LATENCY_BOUNDS_US[i] ?? null, count })),
      latencyP50Us: q(0.5),
      latencyP99Us: q(0.99),
    };
  }
}
