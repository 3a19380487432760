/*
 * `xdpsim torture`: rcutorture for the redirect path. N CPUs redirect
 * traffic through a DEVMAP and a DEVMAP_HASH while writers (the control
 * plane, driven by a seeded PRNG) replace, delete and re-add entries, swap
 * devmap programs, and unregister and re-register target devices. The RCU
 * read-side check is on: every record a CPU used is validated before its
 * quiescent state, and sorted into the pipeline by age. A run is ok only
 * with no violation, no leaked frame, no unexpected writer error, and
 * conservation.
 *
 * Every error a writer gets is counted by its errno (writer_errors). The
 * one expected is EINVAL for an entry pointing at a target that is being
 * unregistered (__dev_map_alloc_node() finds no device, as in the kernel:
 * the writer picked the target before its unregister finished); any other,
 * ENOMEM above all (no entry record free: retired ones wait for grace
 * periods), fails the run. The process's RSS is sampled at the start of the
 * trial, every second, and at its end (after the drain, before stop()).
 *
 * Runs on the main thread; the CPUs are the runtime's workers.
 */
import { fileURLToPath } from 'node:url';
import { openControlSocket } from './control.ts';
import { Runtime, type Device, type Stats } from './runtime.ts';
import { devmapVal } from './maps/devmap.ts';
import { BPF_EXIST } from './shared/uapi.ts';
import type { RcuFault } from './shared/rcu.ts';
import { prng } from './shared/prng.ts';

/**
 * Faults planted in torture's own writer, beside the RCU faults of
 * --inject: stale-ifindex writes an entry pointing at a target unregistered
 * earlier (or, before any was, an ifindex never registered) in 1 of 50
 * updates; each is an unexpected EINVAL, which must fail the run.
 */
export const TORTURE_FAULTS = ['stale-ifindex'] as const;
export type TortureFault = (typeof TORTURE_FAULTS)[number];

export interface TortureOptions {
  cpus: number;
  durationS: number;
  seed: number;
  /** writer operations per second (target) */
  rate: number;
  /** seconds between status lines (0: none) */
  intervalS: number;
  /** target devices (veth pairs whose peers count and pass) */
  targets: number;
  inject: Array<RcuFault | TortureFault>;
  /** open the control socket (a path, or true: one in the temp directory); its path goes to stderr */
  listen?: string | true;
  /** told the control socket's path once it is open */
  onListen?: (path: string) => void;
  /** ends the trial early (Ctrl-C): the traffic stops, drains, and the report covers the time run */
  signal?: AbortSignal;
}

export interface RssBytes {
  /** at the start of the trial (devices and maps set up, before traffic) */
  start: number;
  /** the highest of every sample: start, once a second, end */
  peak: number;
  /** at the end of the trial, after the drain, before the runtime stops */
  end: number;
}

export interface TortureSummary {
  ok: boolean;
  seed: number;
  cpus: number;
  duration_s: number;
  inject: Array<RcuFault | TortureFault>;
  /** the signal's name (or 'aborted') if the trial was ended early, else null */
  interrupted: string | null;
  grace_periods: number;
  gp_latency_p50_us: number;
  gp_latency_p99_us: number;
  updates: number;
  unregisters: number;
  frames_in: number;
  frames_out: number;
  drops: Record<string, number>;
  pipeline: number[];
  records_checked: number;
  /** records used after their grace period, plus quiescent states reported with bulk queues pending */
  violations: number;
  record_violations: number;
  qs_with_pending_bulk: number;
  leaked_frames: number;
  conserved: boolean;
  /** every error a writer got, by errno name ('EINVAL', 'ENOMEM', ...; an exception without one by its name) */
  writer_errors: Record<string, number>;
  /** the errors of writer_errors that fail the run (all but EINVAL for a target being unregistered) */
  writer_errors_unexpected: Record<string, number>;
  /** updates the stale-ifindex fault planted (each must come back as an unexpected EINVAL) */
  planted_writer_faults: number;
  rss_bytes: RssBytes;
  /** why the run is not ok ([] when it is) */
  failures: string[];
}

const example = (name: string): string => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
const KEYS = 8;

export async function runTorture(o: TortureOptions, out: (s: string) => void): Promise<TortureSummary> {
  const rnd = prng(o.seed);
  const pick = (n: number): number => Math.floor(rnd() * n);
  /* ifindexes are never reused: room for the targets re-registered during the run */
  const rcuFaults = o.inject.filter((f): f is RcuFault => !(TORTURE_FAULTS as readonly string[]).includes(f));
  const staleFault = o.inject.includes('stale-ifindex');
  const rt = await Runtime.start({ cpus: o.cpus, rcuCheck: true, inject: rcuFaults, maxDevices: 4096, maxRxQueues: 1024 });
  let stopped: Stats | null = null;
  try {
    if (o.listen !== undefined) o.onListen?.((await openControlSocket(rt, o.listen)).path);
    const obj = await rt.loadObject(example('xdp_torture.ts'));
    const pass = await rt.loadObject(example('xdp_pass.ts'));
    const { tx, txh, cfg } = obj.maps;
    const progs = [null, obj.progs.devmap_a!, obj.progs.devmap_b!];
    cfg!.update(1, KEYS);
    const [in0] = rt.createVeth('tin0', 'tin0p', { rxQueues: o.cpus });
    in0.attachXdp(obj.progs.xdp_torture!);
    const targets: (Device | null)[] = [];
    const addTarget = (i: number): Device => {
      const [d, p] = rt.createVeth(`tt${i}`, `ttp${i}`, { rxQueues: o.cpus }, { rxQueues: o.cpus });
      p.attachXdp(pass.progs.xdp_pass!);
      targets[i] = d;
      return d;
    };
    for (let i = 0; i < o.targets; i++) addTarget(i);
    for (let k = 0; k < KEYS; k++) {
      tx!.update(k, devmapVal(targets[k % o.targets]!.ifindex));
      txh!.update(k, devmapVal(targets[(k + 1) % o.targets]!.ifindex));
    }

    const rss = { start: process.memoryUsage.rss(), peak: 0, end: 0 };
    rss.peak = rss.start;
    const sampleRss = (): number => {
      const n = process.memoryUsage.rss();
      if (n > rss.peak) rss.peak = n;
      return n;
    };
    const t0 = performance.now();
    const end = t0 + o.durationS * 1000;
    let nextRss = t0 + 1000;
    let running = true;
    /* traffic: continuous, from the main thread's source */
    const traffic = (async () => {
      while (running) await in0.inject({ count: 4096, flows: 256 });
    })();

    let updates = 0;
    let unregisters = 0;
    let unregistering: Promise<void> | null = null;
    /* the target being unregistered: an entry pointing at it is EINVAL, as in the kernel */
    let leaving: Device | null = null;
    /* ifindexes of targets unregistered (never reused): what the stale-ifindex fault writes */
    const gone: number[] = [];
    let planted = 0;
    const writerErrors: Record<string, number> = {};
    const unexpected: Record<string, number> = {};
    const firstUnexpected: Record<string, string> = {};
    const count = (e: unknown, expected: boolean): void => {
      const code = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : (e as Error)?.name ?? String(e);
      writerErrors[code] = (writerErrors[code] ?? 0) + 1;
      if (expected) return;
      unexpected[code] = (unexpected[code] ?? 0) + 1;
      firstUnexpected[code] ??= (e as Error)?.message ?? String(e);
    };
    const live = (): Device[] => targets.filter((d): d is Device => d !== null && !d.deleted);
    const writer = (): void => {
      const r = rnd();
      const k = pick(KEYS);
      const ts = live();
      if (ts.length === 0) return;
      const dev = ts[pick(ts.length)]!;
      const prog = progs[pick(progs.length)]!;
      /* the planted fault: 1 update in 50 (of the three update kinds) points at a device that is gone */
      const stale = staleFault && r < 0.95 && !(r >= 0.3 && r < 0.4) && !(r >= 0.7 && r < 0.8) && pick(50) === 0;
      const ifindex = stale ? (gone.length > 0 ? gone[pick(gone.length)]! : 1 << 30) : dev.ifindex;
      if (stale) planted++;
      try {
        if (r < 0.3) tx!.update(k, devmapVal(ifindex, prog));
        else if (r < 0.4) tx!.delete(k);
        else if (r < 0.7) txh!.update(k, devmapVal(ifindex, prog));
        else if (r < 0.8) { if (txh!.lookup(k) !== null) txh!.delete(k); }
        else if (r < 0.95) tx!.update(k, devmapVal(ifindex, prog), BPF_EXIST);
        else if (r < 0.99) cfg!.update(0, pick(3));
        else if (unregistering === null && rt.registry.ifindexesLeft() > 2) {
          /* unregister a target and register it again */
          const i = targets.indexOf(dev);
          unregisters++;
          leaving = dev;
          unregistering = dev.delete().then(() => {
            gone.push(dev.ifindex);
            leaving = null;
            addTarget(i);
          }).catch((e: unknown) => {
            count(e, false);
            out(`unregister of ${dev.name} failed: ${(e as Error)?.message ?? String(e)}`);
          }).finally(() => {
            leaving = null;
            unregistering = null;
          });
        }
        updates++;
      } catch (e) {
        /* the one expected error: EINVAL for an entry pointing at the target being unregistered (not an update) */
        count(e, !stale && (e as { code?: string })?.code === 'EINVAL' && dev === leaving);
      }
    };

    let nextStatus = t0 + o.intervalS * 1000;
    let prev = { gps: 0, updates: 0, frames: 0 };
    while (performance.now() < end && o.signal?.aborted !== true) {
      const due = Math.floor(((performance.now() - t0) / 1000) * o.rate);
      for (let tries = 0; updates < due && tries < 16; tries++) writer();
      await new Promise((r) => setImmediate(r));
      if (performance.now() >= nextRss) {
        sampleRss();
        nextRss += 1000;
      }
      if (o.intervalS > 0 && performance.now() >= nextStatus) {
        nextStatus += o.intervalS * 1000;
        const s = rt.stats();
        const viol = s.cpus.reduce((a, c) => a + c.gp_violations + c.qs_with_pending_bulk, 0);
        const pipe = [0, 1, 2, 3].map((i) => s.cpus.reduce((a, c) => a + c.rcu_pipeline[i]!, 0));
        const frames = s.totals.injected + s.totals.clones;
        const errs = Object.values(writerErrors).reduce((a, n) => a + n, 0);
        const bad = Object.values(unexpected).reduce((a, n) => a + n, 0);
        out(`[${((performance.now() - t0) / 1000).toFixed(0)}s] gps ${s.rcu.gracePeriods} (+${s.rcu.gracePeriods - prev.gps})  updates ${updates} (+${updates - prev.updates})  unregisters ${unregisters}  frames ${frames} (+${frames - prev.frames})  pipeline ${pipe.join(' ')}  violations ${viol}  writer errors ${errs}${bad > 0 ? ` (${bad} unexpected)` : ''}  rss ${mb(sampleRss())} MB`);
        prev = { gps: s.rcu.gracePeriods, updates, frames };
      }
    }
    const interrupted = o.signal?.aborted === true ? (typeof o.signal.reason === 'string' ? o.signal.reason : 'aborted') : null;
    running = false;
    await traffic;
    while (unregistering !== null) await unregistering;
    await rt.quiesce(2000);
    rss.end = sampleRss();
    const before = rt.stats();
    stopped = await rt.stop();
    const s = stopped;
    const recordViolations = s.cpus.reduce((a, c) => a + c.gp_violations, 0);
    const pendingQs = s.cpus.reduce((a, c) => a + c.qs_with_pending_bulk, 0);
    const violations = recordViolations + pendingQs;
    const pipeline = [0, 1, 2, 3].map((i) => s.cpus.reduce((a, c) => a + c.rcu_pipeline[i]!, 0));
    const framesIn = s.totals.injected + s.totals.clones;
    const framesOut = s.totals.stack + s.totals.xmit_consumed + s.totals.dropped;
    const leaked = s.pool.in_use + (framesIn - framesOut);
    const drops = Object.fromEntries(Object.entries(s.totals.dropReasons).filter(([, n]) => n > 0));
    const failures: string[] = [];
    if (recordViolations > 0) failures.push(`${recordViolations} read-side violations: records used after their grace period (pipeline ages 1/2/3+: ${pipeline.slice(1).join('/')})`);
    if (pendingQs > 0) failures.push(`${pendingQs} quiescent states reported with bulk queues still pending (a flush outside the poll)`);
    if (leaked !== 0) failures.push(`${leaked} leaked frames`);
    if (!s.conserved) failures.push('frames not conserved');
    const nUnexpected = Object.values(unexpected).reduce((a, n) => a + n, 0);
    if (nUnexpected > 0) {
      failures.push(`${nUnexpected} unexpected writer errors: ${Object.entries(unexpected).map(([c, n]) => `${c} ${n} (first: ${firstUnexpected[c]})`).join(', ')}`);
    }
    return {
      ok: failures.length === 0, seed: o.seed, cpus: o.cpus, duration_s: (performance.now() - t0) / 1000, inject: o.inject, interrupted,
      grace_periods: s.rcu.gracePeriods, gp_latency_p50_us: s.rcu.latencyP50Us, gp_latency_p99_us: s.rcu.latencyP99Us,
      updates, unregisters, frames_in: framesIn, frames_out: framesOut, drops, pipeline,
      records_checked: before.cpus.reduce((a, c) => a + c.rcu_checked, 0), violations, record_violations: recordViolations,
      qs_with_pending_bulk: pendingQs, leaked_frames: leaked,
      conserved: s.conserved, writer_errors: writerErrors, writer_errors_unexpected: unexpected, planted_writer_faults: planted,
      rss_bytes: rss, failures,
    };
  } finally {
    if (stopped === null) await rt.stop();
  }
}
