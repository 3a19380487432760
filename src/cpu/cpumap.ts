/*
 * The CPU side of BPF_MAP_TYPE_CPUMAP (kernel/bpf/cpumap.c):
 *
 *  - redirectCpumap(): bpf_redirect_map() on a cpumap (cpu_map_redirect):
 *    only the action bits are allowed in flags;
 *  - cpuMapEnqueue(): xdp_do_redirect() puts the frame into this CPU's bulk
 *    queue for the entry (bq_enqueue, CPU_MAP_BULK_SIZE 8: a full bulk is
 *    flushed to the entry's queue first); the bulk joins this CPU's flush
 *    list;
 *  - cpuMapFlush(): __cpu_map_flush() at xdp_do_flush(): every bulk on the
 *    list goes to its entry's queue (bq_flush_to_queue: frames that do not
 *    fit are freed and counted), records xdp_cpumap_enqueue, and wakes the
 *    entry's kthread;
 *  - CpumapKthreads: the entries' consumers on this CPU (cpu_map_kthread_run):
 *    batches of CPUMAP_BATCH frames, the entry's program on each
 *    (cpu_map_bpf_prog_run_xdp: PASS, DROP, REDIRECT, anything else an
 *    exception), an xdp_do_flush() after a batch that redirected, passed
 *    frames built into skbs for the stack of the frame's receiving device,
 *    and one xdp_cpumap_kthread record per batch. A kthread is scheduled
 *    fairly against NAPI: the CPU runs each kthread for at most a NAPI
 *    budget of frames between rounds of NAPI polls, and reports a quiescent
 *    state after it (the kthread's local_bh_enable()).
 *
 * All of this is per-CPU state of one worker: its bulk queues live in its
 * own instance of each map (CpuMap.bq*), its kthread list here.
 */
import { BPF_MAP_TYPE_UNSPEC, XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT } from '../shared/uapi.ts';
import { FM_INGRESS, FM_RXQ, FM_WORDS } from '../shared/frame-pool.ts';
import {
  CPU_CPUMAP_ENQ, CPU_CPUMAP_ENQ_DROPS, CPU_CPUMAP_KT_DROP, CPU_CPUMAP_KT_PASS, CPU_CPUMAP_KT_PROCESSED, CPU_CPUMAP_KT_REDIRECT,
  CPU_CPUMAP_KT_SCHED, DR_CPUMAP_FULL, DR_CPUMAP_PROG_ABORTED, DR_CPUMAP_PROG_DROP, devRow,
} from '../shared/counters.ts';
import { TP_XDP_CPUMAP_ENQUEUE, TP_XDP_CPUMAP_KTHREAD, TP_XDP_EXCEPTION } from '../shared/trace.ts';
import { DT_TAP, DT_WORDS } from '../shared/layout.ts';
import { CPU_MAP_BULK_SIZE, CPUMAP_BATCH, CS_STOPPING, type CpuMap } from '../maps/cpumap.ts';
import { INT_MAX, xdpDoRedirect, type RedirectInfo } from './redirect.ts';
import type { Cpu } from './cpu.ts';

const ACTION_MASK = 3;

/* cpu_map_redirect() -> __bpf_xdp_redirect_map(map, index, flags, 0, __cpu_map_lookup_elem) */
export function redirectCpumap(ri: RedirectInfo, map: CpuMap, key: number, flags: number): number {
  if (flags !== 0 && (!Number.isInteger(flags) || flags < 0 || (flags & ~ACTION_MASK) !== 0 || flags > 0xffffffff)) return XDP_ABORTED;
  const rec = map.lookupRec(key >>> 0);
  ri.tgtValue = rec;
  if (rec < 0) {
    ri.mapId = INT_MAX;
    ri.mapType = BPF_MAP_TYPE_UNSPEC;
    return flags & ACTION_MASK;
  }
  ri.tgtGen = map.recGen(rec);
  ri.tgtIndex = key >>> 0;
  ri.mapId = map.shared.id;
  ri.mapType = map.shared.type;
  ri.cmap = map;
  ri.map = null;
  ri.flags = 0;
  return XDP_REDIRECT;
}

/**
 * This CPU's flush list of cpumap bulk queues (bpf_net_ctx's
 * cpu_map_flush_list): (map, entry) pairs, oldest first; flushed newest
 * first, as list_add() builds the kernel's list. A bulk flushed because it
 * was full leaves the list (__list_del_clearprev) and rejoins it, at the
 * head, with its next frame.
 */
export class CpumapFlushList {
  readonly maps: (CpuMap | null)[] = new Array(64).fill(null);
  recs = new Int32Array(64);
  len = 0;
  readonly drops = new Int32Array(CPU_MAP_BULK_SIZE);

  add(map: CpuMap, rec: number): void {
    if (this.len === this.recs.length) {
      const r = new Int32Array(this.len * 2);
      r.set(this.recs);
      this.recs = r;
      this.maps.length = this.len * 2;
    }
    this.maps[this.len] = map;
    this.recs[this.len++] = rec;
  }

  remove(map: CpuMap, rec: number): void {
    for (let i = 0; i < this.len; i++) {
      if (this.maps[i] === map && this.recs[i] === rec) {
        for (let k = i + 1; k < this.len; k++) {
          this.maps[k - 1] = this.maps[k]!;
          this.recs[k - 1] = this.recs[k]!;
        }
        this.maps[--this.len] = null;
        return;
      }
    }
  }
}

/* cpu_map_enqueue() / bq_enqueue() */
export function cpuMapEnqueue(c: Cpu, map: CpuMap, rec: number, fd: number): number {
  let k = map.bqCount[rec]!;
  if (k === CPU_MAP_BULK_SIZE) {
    bqFlushToQueue(c, map, rec);
    c.cpumapFlush.remove(map, rec);
    map.bqOnList[rec] = 0;
    k = 0;
  }
  if (map.bqOnList[rec] === 0) {
    map.bqOnList[rec] = 1;
    c.cpumapFlush.add(map, rec);
  }
  map.bq[rec * CPU_MAP_BULK_SIZE + k] = fd;
  map.bqCount[rec] = k + 1;
  return 0;
}

/* bq_flush_to_queue(): the bulk into the entry's ptr_ring; what does not fit is freed; xdp_cpumap_enqueue */
function bqFlushToQueue(c: Cpu, map: CpuMap, rec: number): void {
  const n = map.bqCount[rec]!;
  if (n === 0) return;
  const drops = c.cpumapFlush.drops;
  const nd = map.produce(rec, map.bq, rec * CPU_MAP_BULK_SIZE, n, drops);
  map.bqCount[rec] = 0;
  const meta = c.pool.meta;
  for (let i = 0; i < nd; i++) {
    const fd = drops[i]!;
    c.drop(fd, devRow(meta[fd * FM_WORDS + FM_INGRESS]!), DR_CPUMAP_FULL);
  }
  c.ctr[CPU_CPUMAP_ENQ] += n;
  c.ctr[CPU_CPUMAP_ENQ_DROPS] += nd;
  if (c.trace.on[TP_XDP_CPUMAP_ENQUEUE]) c.trace.emit6(TP_XDP_CPUMAP_ENQUEUE, map.shared.id, XDP_REDIRECT, c.cpu, nd, n, map.recCpu(rec));
}

/* __cpu_map_flush(): newest first (list_add), then wake_up_process() of the entry's kthread */
export function cpuMapFlush(c: Cpu): void {
  const fl = c.cpumapFlush;
  for (let i = fl.len - 1; i >= 0; i--) {
    const map = fl.maps[i]!;
    const rec = fl.recs[i]!;
    bqFlushToQueue(c, map, rec);
    map.bqOnList[rec] = 0;
    c.devs.ringDoorbell(map.recCpu(rec));
    fl.maps[i] = null;
  }
  fl.len = 0;
}

/** Bulk queues of cpumaps waiting for a flush (the read-side check: 0 at every quiescent state). */
export function cpuMapPending(c: Cpu): number {
  return c.cpumapFlush.len;
}

interface Kthread {
  map: CpuMap;
  rec: number;
  /* the kthread slept (empty queue) or was preempted since its last batch: the next batch reports sched=1 */
  resched: boolean;
}

/** The cpumap kthreads bound to this CPU. */
export class CpumapKthreads {
  private readonly c: Cpu;
  private readonly maps: CpuMap[] = [];
  private seqs: number[] = [];
  private tasks: Kthread[] = [];
  private readonly frames = new Int32Array(CPUMAP_BATCH);
  private readonly scratch: number[] = [];
  /** frames a kthread may take before the CPU goes back to NAPI (a NAPI budget) */
  private readonly slice: number;

  constructor(c: Cpu, slice: number) {
    this.c = c;
    this.slice = slice;
  }

  /** A cpumap this CPU opened (loadObject): its entries for this CPU get a kthread here. */
  addMap(map: CpuMap): void {
    if (this.maps.includes(map)) return;
    this.maps.push(map);
    this.seqs.push(-1);
  }

  /* rebuild the task list when an entry was added, retired or told to stop */
  private refresh(): void {
    let changed = false;
    for (let i = 0; i < this.maps.length; i++) {
      const s = this.maps[i]!.seq();
      if (s !== this.seqs[i]) {
        this.seqs[i] = s;
        changed = true;
      }
    }
    if (!changed) return;
    const old = this.tasks;
    const next: Kthread[] = [];
    for (const map of this.maps) {
      map.tasksOf(this.c.cpu, this.scratch);
      for (const rec of this.scratch) {
        const prev = old.find((t) => t.map === map && t.rec === rec);
        next.push(prev ?? { map, rec, resched: true });
      }
    }
    this.tasks = next;
  }

  /** Is there anything for a kthread to do (frames queued, or a stop to acknowledge)? */
  hasWork(): boolean {
    if (this.maps.length === 0) return false;
    this.refresh();
    for (const t of this.tasks) if (!t.map.queueEmpty(t.rec) || t.map.recState(t.rec) === CS_STOPPING) return true;
    return false;
  }

  /** Run every kthread of this CPU for at most a slice each; returns frames processed. */
  run(): number {
    if (this.maps.length === 0) return 0;
    this.refresh();
    let work = 0;
    let stopped = false;
    for (const t of this.tasks) {
      const map = t.map;
      let done = 0;
      while (done < this.slice) {
        const n = map.consume(t.rec, this.frames, CPUMAP_BATCH);
        if (n === 0) break;
        this.batch(t, n);
        done += n;
      }
      if (done === 0) {
        t.resched = true; /* an empty queue: the kthread sleeps (schedule()) */
        /* kthread_stop(): the queue is empty and nothing can enqueue any more: the kthread exits */
        if (map.recState(t.rec) === CS_STOPPING && map.queueEmpty(t.rec)) {
          /* kthread_stop() wakes it one last time: an empty batch is traced (processed 0, sched 1) before it exits */
          const c = this.c;
          if (c.trace.on[TP_XDP_CPUMAP_KTHREAD]) c.trace.emit9(TP_XDP_CPUMAP_KTHREAD, map.shared.id, XDP_REDIRECT, c.cpu, 0, 0, 1, 0, 0, 0);
          map.markStopped(t.rec);
          stopped = true;
        }
      } else {
        work += done;
        /* it used its slice with frames left: preempted for NAPI (cond_resched) */
        if (done >= this.slice) t.resched = true;
        /* local_bh_enable(): a quiescent state after the kthread's softirq-disabled section */
        this.c.quiescentState();
      }
    }
    if (stopped) this.refresh();
    /* frames of other CPUs' homes go back now, as after a NAPI poll */
    if (work !== 0) this.c.pool.flushReturns();
    return work;
  }

  /* One loop of cpu_map_kthread_run() over n frames */
  private batch(t: Kthread, n: number): void {
    const c = this.c;
    const map = t.map;
    const frames = this.frames;
    const meta = c.pool.meta;
    const prog = map.recProg(t.rec);
    let pass = 0;
    let drop = 0;
    let redirect = 0;
    /* cpu_map_bpf_prog_run_xdp(): the entry's program on each frame, with the frame's receiving device and queue 0 */
    let kept = n;
    if (prog !== 0) {
      kept = 0;
      for (let i = 0; i < n; i++) {
        const fd = frames[i]!;
        const devRx = meta[fd * FM_WORDS + FM_INGRESS]!;
        /* the kthread's xdp_rxq_info has queue_index 0 (6.18): a redirect to an XSKMAP is checked against queue 0 */
        meta[fd * FM_WORDS + FM_RXQ] = 0;
        const act = c.runProg(prog, fd, devRx, 0, 0);
        const row = devRow(devRx);
        switch (act) {
          case XDP_PASS:
            frames[kept++] = fd;
            pass++;
            break;
          case XDP_REDIRECT:
            if (xdpDoRedirect(c, fd, devRx, prog) !== 0) {
              c.drop(fd, row, DR_CPUMAP_PROG_DROP);
              drop++;
            } else redirect++;
            break;
          case XDP_DROP:
            c.drop(fd, row, DR_CPUMAP_PROG_DROP);
            drop++;
            break;
          default:
            /* bpf_warn_invalid_xdp_action(), XDP_ABORTED, a throw: trace_xdp_exception, then the drop */
            if (c.trace.on[TP_XDP_EXCEPTION]) c.trace.emit3(TP_XDP_EXCEPTION, prog, act < 0 ? XDP_ABORTED : act, devRx);
            c.drop(fd, row, DR_CPUMAP_PROG_ABORTED);
            drop++;
        }
      }
      if (redirect > 0) c.xdpDoFlush();
    }
    /* without a program cpu_map_bpf_prog_run() returns at once: every frame goes to the stack, the stats stay 0 */
    /* __xdp_build_skb_from_frame() + netif_receive_skb_list(): the stack of the receiving device */
    const devtab = c.devs.devtab;
    for (let i = 0; i < kept; i++) {
      const fd = frames[i]!;
      const devRx = meta[fd * FM_WORDS + FM_INGRESS]!;
      c.toStack(fd, devRow(devRx), devRx, 0, devtab[devRx * DT_WORDS + DT_TAP] !== 0);
    }
    const ctr = c.ctr;
    const sched = t.resched ? 1 : 0;
    t.resched = false;
    ctr[CPU_CPUMAP_KT_PROCESSED] += n;
    ctr[CPU_CPUMAP_KT_PASS] += pass;
    ctr[CPU_CPUMAP_KT_DROP] += drop;
    ctr[CPU_CPUMAP_KT_REDIRECT] += redirect;
    ctr[CPU_CPUMAP_KT_SCHED] += sched;
    /* the kernel's drops here are skb allocation failures (kmem_alloc_drops): never in xdpsim */
    if (c.trace.on[TP_XDP_CPUMAP_KTHREAD]) c.trace.emit9(TP_XDP_CPUMAP_KTHREAD, map.shared.id, XDP_REDIRECT, c.cpu, 0, n, sched, pass, drop, redirect);
  }
}
