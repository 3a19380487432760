/*
 * A CPU worker: the thread that is simulated CPU `cpu`.
 *
 * The loop: poll every RX queue bound to this CPU (one NAPI poll each, then
 * one quiescent state for the round), repeat while there is work, and give the event loop a
 * turn every few milliseconds so control-plane calls (comlink) get in. With
 * no work, the CPU sleeps on its doorbell: it reads the bell, marks itself
 * sleeping, checks its queues once more (a producer that published before
 * seeing the mark is caught here), and waits with Atomics.waitAsync, so an
 * idle CPU uses no CPU time and still answers control calls. Whoever makes
 * work for it (a ring producer, the control plane) bumps the bell and
 * notifies.
 *
 * Stop: the control plane sets CC_STATE to CS_STOP and rings the bell; the
 * CPU finishes the poll it is in (bulk queues are flushed at the end of
 * every poll), hands back frames it holds for other homes, marks itself
 * CS_STOPPED and exits. Frames still in rings are purged by the control
 * plane.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { CC_BELL, CC_SLEEPING, CC_STATE, CC_WORDS, CS_RUNNING, CS_STOP, CS_STOPPED, makeClock, type SharedState } from '../shared/layout.ts';
import { CPU_ROUNDS, CPU_SLEEPS, CPU_WAKEUPS } from '../shared/counters.ts';
import { PrintkRing, TP_COUNT } from '../shared/trace.ts';
import { rcuWakeWriters } from '../shared/rcu.ts';
import { openMap, type MapShared } from '../maps/map.ts';
import { DevMap } from '../maps/devmap.ts';
import { CpuMap } from '../maps/cpumap.ts';
import type { XskShared } from '../xsk/socket.ts';
import { Cpu } from './cpu.ts';
import type { WorkerBundle } from './bundle.ts';
import { setHelperContext } from './helpers.ts';
import { RcuCheck } from './redirect.ts';
import { isMapDef, isProgDef } from './program.ts';
import { WireGen, type GenPlan } from './wiregen.ts';
import { bindBpfPrograms, bindMapDefs, type PreparedObject } from '../bpf/load.ts';

export interface WorkerInit {
  cpu: number;
  shared: SharedState;
  /** false: no RCU bookkeeping (a benchmark's baseline; grace periods then end only when CPUs sleep) */
  rcu: boolean;
  /** the bundle of this worker's sources (src/cpu/bundle.ts), read by worker-boot.mjs; null: the sources through tsx */
  bundle: WorkerBundle | null;
}

const { cpu, shared, rcu } = workerData as WorkerInit;
const clock = makeClock(shared.epochMs);
const core = new Cpu(cpu, shared, clock);
core.rcuOn = rcu;
setHelperContext(cpu, clock, core.ri, new PrintkRing(shared.printk[cpu]!), () => { core.trace.lost++; });
const cc = new Int32Array(shared.cpuctl);
const base = cpu * CC_WORDS;
const SLICE_MS = 4;

/** The control-plane interface of a CPU (called through comlink). */
export const cpuApi = {
  /** Import a program object and bind its maps and programs; returns the export names seen. */
  async loadObject(url: string, maps: Record<string, MapShared>, progs: Record<string, number>): Promise<string[]> {
    const mod = (await import(url)) as Record<string, unknown>;
    const seen: string[] = [];
    for (const [name, v] of Object.entries(mod)) {
      if (isMapDef(v)) {
        const s = maps[name];
        if (s === undefined) throw new Error(`cpu ${cpu}: map '${name}' has no shared instance`);
        v._map = openMap(s);
        v._devmap = v._map instanceof DevMap ? v._map : null;
        /* the entries of a cpumap for this CPU get their kthread here */
        if (v._map instanceof CpuMap) core.kthreads.addMap(v._map);
        seen.push(name);
      } else if (isProgDef(v)) {
        const id = progs[name];
        if (id === undefined) throw new Error(`cpu ${cpu}: program '${name}' has no id`);
        core.progs[id] = v.fn;
        seen.push(name);
      }
    }
    return seen;
  },
  /** A bound AF_XDP socket: this CPU may deliver to it (XSKMAP) or transmit for it (its queue). */
  addXsk(s: XskShared): void {
    core.xsk.add(s);
    kick();
  },
  /** A closed socket whose grace period ended. */
  dropXsk(id: number): void {
    core.xsk.drop(id);
  },
  /** Build a clang-compiled object's programs (src/bpf) on this CPU's view of its maps. */
  loadBpfObject(obj: PreparedObject, maps: MapShared[], progs: Record<string, number>): string[] {
    const opened = maps.map((s) => openMap(s));
    /* the entries of a cpumap for this CPU get their kthread here */
    for (const m of opened) if (m instanceof CpuMap) core.kthreads.addMap(m);
    const fns = bindBpfPrograms(obj, bindMapDefs(obj, opened));
    for (const [name, fn] of Object.entries(fns)) {
      const id = progs[name];
      if (id === undefined) throw new Error(`cpu ${cpu}: program '${name}' has no id`);
      core.progs[id] = fn;
    }
    return Object.keys(fns);
  },
  /** Free a program on this CPU (after its grace period). */
  freeProg(id: number): void {
    core.freeProg(id);
  },
  /** Turn the RCU read-side check on or off on this CPU. */
  setRcuCheck(on: boolean): void {
    core.ri.check = on ? (core.ri.check ?? new RcuCheck(core.global)) : null;
  },
  /** Plant CPU-side faults (early-qs, flush-outside) for a run. */
  setFaults(faults: string[]): void {
    core.faultEarlyQs = faults.includes('early-qs');
    core.faultFlushOutside = faults.includes('flush-outside');
  },
  /** Enable or disable a tracepoint on this CPU. */
  setTracepoint(tp: number, on: boolean): void {
    if (tp >= 0 && tp < TP_COUNT) core.trace.on[tp] = on ? 1 : 0;
  },
  /** Start a generator on the wire of one of this CPU's queues; false if the CPU's home lacked frames. */
  startGen(plan: GenPlan): boolean {
    core.refreshQueues();
    const ok = core.startGen(new WireGen(plan, core.pool, core.ctr, () => performance.now()));
    kick();
    return ok;
  },
  /** Stop the generators of generation `gid` (-1: all of this CPU's). */
  stopGen(gid: number): void {
    core.stopGen(gid);
  },
  ping(): number {
    return cpu;
  },
  /** The module this CPU's code runs from: the bundle (src/cpu/bundle.ts) or src/cpu/worker.ts. */
  codeUrl(): string {
    return import.meta.url;
  },
};
export type CpuApi = typeof cpuApi;

/* wake the loop if it sleeps (a control call made work for it) */
function kick(): void {
  if (Atomics.load(cc, base + CC_SLEEPING) !== 0) {
    Atomics.add(cc, base + CC_BELL, 1);
    Atomics.notify(cc, base + CC_BELL, 1);
  }
}

function stopNow(): void {
  core.stopGen(-1);
  core.pool.flushReturns();
  Atomics.store(cc, base + CC_STATE, CS_STOPPED);
  process.exit(0);
}

function run(): void {
  const sliceEnd = performance.now() + SLICE_MS;
  for (;;) {
    if (Atomics.load(cc, base + CC_STATE) === CS_STOP) return stopNow();
    /* one clock read per round: the slice's end, and the generators' time (Cpu.now) */
    const now = performance.now();
    if (now > sliceEnd) {
      setImmediate(run);
      return;
    }
    core.now = now;
    core.ctr[CPU_ROUNDS]++;
    const work = core.pollAll();
    if (work === 0) return sleep();
  }
}

function sleep(): void {
  const seq = Atomics.load(cc, base + CC_BELL);
  Atomics.store(cc, base + CC_SLEEPING, 1);
  core.refreshQueues();
  if (core.hasWork() || Atomics.load(cc, base + CC_STATE) === CS_STOP) {
    Atomics.store(cc, base + CC_SLEEPING, 0);
    setImmediate(run);
    return;
  }
  core.ctr[CPU_SLEEPS]++;
  core.rearmDropNotes();
  /* asleep is an extended quiescent state: a writer waiting for a grace period need not wait for us */
  rcuWakeWriters(core.global);
  /* a rate-limited generator: sleep until its next frame is due (a timer's resolution is ~1 ms: spin below it) */
  const due = core.genDueInMs();
  if (due >= 0 && due < 1.5) {
    Atomics.store(cc, base + CC_SLEEPING, 0);
    setImmediate(run);
    return;
  }
  const r = due > 0 ? Atomics.waitAsync(cc, base + CC_BELL, seq, due - 1) : Atomics.waitAsync(cc, base + CC_BELL, seq);
  if (!r.async) {
    Atomics.store(cc, base + CC_SLEEPING, 0);
    setImmediate(run);
    return;
  }
  void r.value.then((how) => {
    Atomics.store(cc, base + CC_SLEEPING, 0);
    if (how !== 'timed-out') core.ctr[CPU_WAKEUPS]++;
    run();
  });
}

Comlink.expose(cpuApi, nodeEndpoint(parentPort!));
Atomics.store(cc, base + CC_STATE, CS_RUNNING);
setImmediate(run);
