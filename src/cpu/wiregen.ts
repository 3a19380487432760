/*
 * The wire side of an RX queue, generated on the CPU that polls it.
 *
 * A NIC's RX ring is filled by DMA while the CPU is busy elsewhere; a
 * benchmark's generator must not compete with the CPUs for cycles, and on
 * this 2-core machine a generator thread would. So, as the kernel's
 * BPF_PROG_TEST_RUN in live-frame mode (what xdp-trafficgen uses) runs on
 * the CPU it generates for, a WireGen runs inside the CPU worker that owns
 * queue q: at the start of each NAPI poll of q it puts the frames that are
 * due into the poll's batch, exactly where the ring's frames would go.
 *
 * Frames are prepared ahead and recycled, like test_run's page_pool:
 *  - at start the generator takes M frames from its CPU's home and writes
 *    packet j of its sequence into slot j;
 *  - a frame is FS_GEN while in flight; whoever frees it (a drop, a sink, a
 *    veth peer on another CPU) parks it (FS_GEN_PARKED) instead of caching
 *    it, and the generator sends it again when its slot comes round;
 *  - when the sequence's period P (flows of this queue x sizes, or the
 *    replayed packets of this queue) divides M, a recycled frame already
 *    holds the right packet: only a frame whose data, length or metadata
 *    a program moved is rewritten (test_run's frame_was_changed rule);
 *    bytes a program wrote in place stay, as with live frames. Otherwise
 *    (P above the slot limit) each send rewrites the headers.
 *
 * Rate: at most `rate` pps for this queue, computed from elapsed time (no
 * drift); frames that fall due while the CPU cannot take them queue up to
 * the ring's size, and beyond it are missed (counted as FULL_RING drops with
 * no frame, as a NIC's rx_missed_errors). 0 is the maximum rate: the CPU
 * takes `budget` frames per poll whenever slots are free. A slot still in
 * flight when its turn comes stalls the generator (backpressure).
 *
 * Everything per frame is plain typed-array access; time is read once per
 * poll.
 */
import {
  FM_DATA, FM_FLAGS, FM_LEN, FM_METASIZE, FM_STATE, FM_WORDS, FS_FREE, FS_GEN, FS_GEN_PARKED, FS_USED,
  FRAME_FLAG_HAS_FRAGS, type FramePool,
} from '../shared/frame-pool.ts';
import { DEV_INJECTED, DR_FULL_RING, countDrops, devRow } from '../shared/counters.ts';
import { XDP_PACKET_HEADROOM } from '../shared/uapi.ts';
import { compileTraffic, type CompiledTraffic, type TrafficSpec } from '../gen/packets.ts';

/** Status words of one generator (a Float64Array in shared memory, written by its CPU). */
export const GS_SENT = 0;      /* frames put on the wire (into the poll), missed ones included */
export const GS_MISSED = 1;    /* frames missed: due but the ring was full */
export const GS_STATE = 2;     /* GEN_* */
export const GS_T0 = 3;        /* start, ms on the CPU's performance clock origin shared via epoch */
export const GS_T1 = 4;        /* end */
export const GS_SLOTS = 5;     /* frames the generator holds */
export const GS_REWRITES = 6;  /* frames rewritten before a resend */
export const GS_STALLS = 7;    /* polls that found the next slot still in flight */
export const GS_MAX_GAP = 8;   /* the longest time between two polls of the queue while running, ms (from the start to the first poll too) */
export const GS_WORDS = 9;

/** frames a queue's generator holds by default (its prepared packets): far more than a poll and a veth ring keep in flight */
export const GEN_SLOTS = 1024;

/* descriptors of the simulated NIC's RX ring: what may wait between two polls before frames are missed */
export const WIRE_BACKLOG = 4096;

export const GEN_STARTING = 0;
export const GEN_RUNNING = 1;
export const GEN_DONE = 2;
export const GEN_STOPPED = 3;    /* stopped by the control plane */
export const GEN_DEV_DOWN = 4;   /* the device went down or was deleted */
export const GEN_NO_FRAMES = 5;  /* the CPU's home had fewer free frames than one poll needs */

/** A replayed capture in shared memory: packet bytes, and per packet its offset, length and time. */
export interface ReplayShared {
  bytes: SharedArrayBuffer;
  off: Int32Array;        /* into bytes */
  len: Int32Array;
  /** ns since the capture's first packet (Float64: exact to 2^53 ns) */
  tsNs: Float64Array;
  /** ns one pass over the file lasts: the last packet's time, plus the mean gap (so loops keep the pace) */
  spanNs: number;
}

/** What the control plane sends a CPU to start one generator (structured-clonable). */
export interface GenPlan {
  /** index of this generator's status block */
  id: number;
  /** the generation (Runtime.generate call) this plan belongs to: unique in the runtime */
  gid: number;
  status: SharedArrayBuffer;
  /** global RX queue, its device */
  q: number;
  ifindex: number;
  traffic?: TrafficSpec;
  /** traffic: the flow indexes this queue carries, in order */
  flows?: Int32Array;
  replay?: ReplayShared;
  /** replay: the packet indexes this queue carries, in file order */
  packets?: Int32Array;
  /** replay: keep the recorded pace between packets */
  paced?: boolean;
  /** frames for this queue; -1: until the duration ends or stop */
  count: number;
  /** ms; 0: no limit */
  durationMs: number;
  /** pps for this queue; 0: as fast as the CPU takes them */
  rate: number;
  /** frames at most to hold (default GEN_SLOTS) */
  maxSlots?: number;
  /** multi-buffer frames: bytes kept linear; longer frames get fragments (0: all linear) */
  fragLinear?: number;
  /** frames due beyond this backlog are missed: the NIC's RX descriptor ring (WIRE_BACKLOG, or the queue's ring if larger) */
  ringSize: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export class WireGen {
  readonly plan: GenPlan;
  readonly q: number;
  readonly ifindex: number;
  private readonly pool: FramePool;
  private readonly st: Float64Array;
  private readonly ctr: Float64Array;
  private readonly row: number;
  private readonly now: () => number;
  /* the sequence */
  private readonly tr: CompiledTraffic | null;
  private readonly flows: Int32Array;
  private readonly sizes: Int32Array;
  private readonly rp: ReplayShared | null;
  private readonly rpIdx: Int32Array;
  private readonly rpViews: Uint8Array[] = [];
  private readonly period: number;
  private fi = 0;
  private si = 0;
  /* the slots */
  private readonly slotFd: Int32Array;
  private readonly slotLen: Int32Array;
  private readonly slotFlags: Int32Array;
  /* multi-buffer: the linear part's length (Infinity: none), and a whole packet before it is split */
  private readonly split: number;
  private readonly scratch: Uint8Array;
  private nslots: number;
  private readonly reuse: boolean;
  private j = 0;
  /* limits */
  private readonly count: number;
  private endAt: number;
  private readonly rate: number;
  private readonly paced: boolean;
  private readonly ringSize: number;
  private t0 = 0;
  /* the previous poll's time (the start before the first) */
  private lastPoll = 0;
  private sent = 0;
  private loop = 0;
  private pk = 0;
  state = GEN_STARTING;
  /** frames (heads and fragments) the generator holds while it runs */
  framesHeld = 0;

  constructor(plan: GenPlan, pool: FramePool, ctr: Float64Array, now: () => number) {
    this.plan = plan;
    this.q = plan.q;
    this.ifindex = plan.ifindex;
    this.pool = pool;
    this.ctr = ctr;
    this.row = devRow(plan.ifindex);
    this.now = now;
    this.st = new Float64Array(plan.status, plan.id * GS_WORDS * 8, GS_WORDS);
    this.count = plan.count;
    this.rate = plan.rate;
    this.paced = plan.paced === true;
    this.ringSize = plan.ringSize;
    this.split = plan.fragLinear && plan.fragLinear > 0 ? plan.fragLinear : Infinity;
    this.endAt = 0;
    if (plan.traffic !== undefined) {
      this.tr = compileTraffic(plan.traffic);
      this.flows = plan.flows ?? new Int32Array(0);
      this.sizes = this.tr.sizes;
      this.rp = null;
      this.rpIdx = new Int32Array(0);
      const f = this.flows.length;
      const s = this.sizes.length;
      this.period = f === 0 ? 0 : (f / gcd(f, s)) * s;
    } else {
      this.tr = null;
      this.flows = new Int32Array(0);
      this.sizes = new Int32Array(0);
      this.rp = plan.replay!;
      this.rpIdx = plan.packets ?? new Int32Array(0);
      for (let i = 0; i < this.rpIdx.length; i++) {
        const p = this.rpIdx[i]!;
        this.rpViews.push(new Uint8Array(this.rp.bytes, this.rp.off[p]!, this.rp.len[p]!));
      }
      this.period = this.rpIdx.length;
    }
    const maxSlots = plan.maxSlots ?? GEN_SLOTS;
    if (this.period > 0 && this.period <= maxSlots) {
      this.nslots = this.period * Math.floor(maxSlots / this.period);
      this.reuse = true;
    } else {
      this.nslots = maxSlots;
      this.reuse = false;
    }
    this.slotFd = new Int32Array(this.nslots).fill(-1);
    this.slotLen = new Int32Array(this.nslots);
    this.slotFlags = new Int32Array(this.nslots);
    let longest = this.tr !== null ? this.tr.maxSize : 0;
    for (const v of this.rpViews) if (v.length > longest) longest = v.length;
    this.scratch = new Uint8Array(this.split === Infinity ? 0 : longest);
  }

  /** Take the frames and write the first pass of the sequence; false if the home is short of frames. */
  /**
   * Take the frames (at most `limit`, fragments included) and write the
   * first pass of the sequence; false if that left fewer than 256 slots.
   */
  start(limit: number): boolean {
    const st = this.st;
    if (this.period === 0 || this.count === 0) {
      /* nothing for this queue (no flow hashes to it) */
      this.finish(GEN_DONE);
      return true;
    }
    const pool = this.pool;
    const meta = pool.meta;
    let got = 0;
    for (; got < this.nslots && got < limit; got++) {
      const fd = pool.alloc();
      if (fd < 0) break;
      this.slotFd[got] = fd;
    }
    /* keep what we got if it is at least a few polls' worth; the rest of the home serves clones and the stack */
    if (got < 256) {
      for (let i = 0; i < got; i++) pool.free(this.slotFd[i]!);
      this.slotFd.fill(-1);
      this.finish(GEN_NO_FRAMES);
      return false;
    }
    let n = this.reuse ? got - (got % this.period) : got;
    for (let i = n; i < got; i++) {
      pool.free(this.slotFd[i]!);
      this.slotFd[i] = -1;
    }
    /* multi-buffer packets take their fragments from the same home: fewer slots if it runs short */
    let held = n;
    for (let s = 0; s < n; s++) {
      const fd = this.slotFd[s]!;
      const ok = this.writeFirst(fd, s);
      if (ok) held += pool.nrFrags(fd);
      if (!ok || held > limit) {
        let keep = this.reuse ? s - (s % this.period) : s;
        if (keep < 256) keep = 0;
        for (let i = keep; i < n; i++) {
          /* (free() takes a multi-buffer head's fragments with it) */
          pool.free(this.slotFd[i]!);
          this.slotFd[i] = -1;
        }
        n = keep;
        break;
      }
    }
    if (n === 0) {
      this.finish(GEN_NO_FRAMES);
      return false;
    }
    this.nslots = n;
    this.framesHeld = 0;
    for (let s = 0; s < n; s++) {
      const fd = this.slotFd[s]!;
      meta[fd * FM_WORDS + FM_STATE] = FS_GEN_PARKED;
      this.framesHeld += 1 + pool.nrFrags(fd);
    }
    st[GS_SLOTS] = n;
    this.t0 = this.now();
    this.lastPoll = this.t0;
    st[GS_T0] = this.t0;
    this.endAt = this.plan.durationMs > 0 ? this.t0 + this.plan.durationMs : 0;
    this.state = GEN_RUNNING;
    st[GS_STATE] = GEN_RUNNING;
    return true;
  }

  /*
   * Slot s's first content: packet s of the sequence (without reuse, the
   * first packet at the largest size: its payload pattern is what every
   * send's headers go over). A packet longer than the linear part gets its
   * fragments now; they stay with the slot. False if frames ran out.
   */
  private writeFirst(fd: number, s: number): boolean {
    const pool = this.pool;
    const meta = pool.meta;
    const m = fd * FM_WORDS;
    let p: Uint8Array | null = null;
    let len: number;
    if (this.tr !== null) {
      const f = this.flows[this.reuse ? s % this.flows.length : 0]!;
      len = this.reuse ? this.sizes[s % this.sizes.length]! : this.tr.maxSize;
      if (len > this.split) {
        this.tr.write(f, len, this.scratch, 0);
        p = this.scratch.subarray(0, len);
      } else {
        this.tr.write(f, len, pool.data, pool.base(fd) + XDP_PACKET_HEADROOM);
      }
    } else {
      const v = this.rpViews[s % this.period]!;
      len = v.length;
      if (len > this.split) p = v;
      else pool.data.set(v, pool.base(fd) + XDP_PACKET_HEADROOM);
    }
    meta[m + FM_DATA] = XDP_PACKET_HEADROOM;
    if (p !== null) {
      if (!pool.writePacket(fd, p, this.split)) return false;
      this.slotFlags[s] = FRAME_FLAG_HAS_FRAGS;
    } else {
      meta[m + FM_LEN] = len;
      this.slotFlags[s] = 0;
    }
    this.slotLen[s] = meta[m + FM_LEN]!;
    return true;
  }

  /* a program moved the slot's data or length: put its packet's linear part back (the fragments were not touched) */
  private rewriteSlot(fd: number, s: number): void {
    const pool = this.pool;
    const off = pool.base(fd) + XDP_PACKET_HEADROOM;
    const lin = this.slotLen[s]!;
    if (this.tr !== null) {
      const f = this.flows[s % this.flows.length]!;
      const len = this.sizes[s % this.sizes.length]!;
      if (len > this.split) {
        this.tr.write(f, len, this.scratch, 0);
        for (let i = 0; i < lin; i++) pool.data[off + i] = this.scratch[i]!;
      } else {
        this.tr.write(f, len, pool.data, off);
      }
    } else {
      const v = this.rpViews[s % this.period]!;
      for (let i = 0; i < lin; i++) pool.data[off + i] = v[i]!;
    }
  }

  /** ms until the next frame is due (0: now; -1: never, the generator is not running). */
  dueInMs(now: number): number {
    if (this.state !== GEN_RUNNING) return -1;
    const end = this.endAt;
    if (end !== 0 && now >= end) return 0;
    let next = now;
    if (this.rate > 0) next = this.t0 + ((this.sent + 1) * 1000) / this.rate;
    else if (this.paced) next = this.t0 + this.replayTimeMs(this.pk, this.loop);
    /* the end of a duration is an event too: the generator must wake for it */
    if (end !== 0 && next > end) next = end;
    return next > now ? next - now : 0;
  }

  private replayTimeMs(pk: number, loop: number): number {
    const rp = this.rp!;
    return (loop * rp.spanNs + rp.tsNs[this.rpIdx[pk]!]!) / 1e6;
  }

  /**
   * Put the frames now due into batch[0..max); returns how many. Called by
   * the CPU at the start of a NAPI poll of this queue, with the time its
   * round started (one clock read per round).
   */
  fill(batch: Int32Array, max: number, now: number): number {
    if (this.state !== GEN_RUNNING) return 0;
    /* how long the wire waited for the CPU: what a rate test needs to tell a busy machine from missed frames */
    const gap = now - this.lastPoll;
    if (gap > this.st[GS_MAX_GAP]!) this.st[GS_MAX_GAP] = gap;
    this.lastPoll = now;
    if (this.endAt !== 0 && now >= this.endAt) {
      this.finish(GEN_DONE);
      return 0;
    }
    let want = max;
    const count = this.count;
    if (count >= 0 && count - this.sent < want) want = count - this.sent;
    let missed = 0;
    if (this.rate > 0) {
      const due = Math.floor(((now - this.t0) * this.rate) / 1000) - this.sent;
      if (due > this.ringSize) missed = due - this.ringSize;
      if (count >= 0 && missed > count - this.sent) missed = count - this.sent;
      if (due - missed < want) want = due - missed;
    }
    if (missed > 0) {
      this.miss(missed);
      if (count >= 0 && count - this.sent < want) want = count - this.sent;
    }
    if (this.paced) want = this.pacedWant(now, want);
    const n = want > 0 ? this.take(batch, want) : 0;
    if (n > 0) {
      this.sent += n;
      this.ctr[this.row + DEV_INJECTED] += n;
      this.st[GS_SENT] = this.sent;
    }
    if (count >= 0 && this.sent >= count) this.finish(GEN_DONE);
    return n;
  }

  /* frames due but never received: the sequence moves on without them */
  private miss(k: number): void {
    this.sent += k;
    this.st[GS_MISSED] += k;
    this.ctr[this.row + DEV_INJECTED] += k;
    countDrops(this.ctr, this.row, DR_FULL_RING, k);
    if (this.tr !== null) {
      this.fi = (this.fi + k) % this.flows.length;
      this.si = (this.si + k) % this.sizes.length;
    } else {
      for (let i = 0; i < k; i++) this.advanceReplay();
    }
    this.st[GS_SENT] = this.sent;
  }

  private advanceReplay(): void {
    if (++this.pk === this.period) {
      this.pk = 0;
      this.loop++;
    }
  }

  /* replay at the recorded pace: how many of the next `want` packets are due */
  private pacedWant(now: number, want: number): number {
    const rel = now - this.t0;
    let pk = this.pk;
    let loop = this.loop;
    let n = 0;
    while (n < want && this.replayTimeMs(pk, loop) <= rel) {
      n++;
      if (++pk === this.period) {
        pk = 0;
        loop++;
      }
    }
    return n;
  }

  /* the per-frame path */
  private take(batch: Int32Array, want: number): number {
    const meta = this.pool.meta;
    const slotFd = this.slotFd;
    const slotLen = this.slotLen;
    const slotFlags = this.slotFlags;
    const nslots = this.nslots;
    const reuse = this.reuse;
    const replay = this.rp !== null;
    let j = this.j;
    let n = 0;
    while (n < want) {
      const fd = slotFd[j]!;
      const m = fd * FM_WORDS;
      if (meta[m + FM_STATE] !== FS_GEN_PARKED) {
        this.st[GS_STALLS]++;
        break;
      }
      /*
       * A frame comes back as it left unless a program moved its data,
       * length or metadata: only then (or without reuse, always) are its
       * packet and words written again. Its flags (frags) stay the slot's:
       * nothing on the way changes them.
       */
      if (!reuse || meta[m + FM_DATA] !== XDP_PACKET_HEADROOM || meta[m + FM_LEN] !== slotLen[j] || meta[m + FM_METASIZE] !== 0) {
        if (!reuse) this.rewrite(fd, j);
        else {
          this.st[GS_REWRITES]++;
          this.rewriteSlot(fd, j);
        }
        meta[m + FM_DATA] = XDP_PACKET_HEADROOM;
        meta[m + FM_LEN] = slotLen[j]!;
        meta[m + FM_METASIZE] = 0;
        meta[m + FM_FLAGS] = slotFlags[j]!;
      }
      meta[m + FM_STATE] = FS_GEN;
      batch[n++] = fd;
      if (++j === nslots) j = 0;
      if (replay) this.advanceReplay();
    }
    this.j = j;
    return n;
  }

  /* no reuse: write the sequence's next packet into slot j's frame */
  private rewrite(fd: number, j: number): void {
    const pool = this.pool;
    const off = pool.base(fd) + XDP_PACKET_HEADROOM;
    if (this.tr !== null) {
      /* (a multi-buffer sequence without reuse has one size: the fragments and slotLen stay) */
      const len = this.sizes[this.si]!;
      this.tr.writeHeaders(this.flows[this.fi]!, len, pool.data, off);
      if (this.slotFlags[j] === 0) this.slotLen[j] = len;
      if (++this.fi === this.flows.length) this.fi = 0;
      if (++this.si === this.sizes.length) this.si = 0;
    } else {
      /* (replays are always reused: their period is the capture's packets of this queue, and frags need it) */
      const v = this.rpViews[this.pk]!;
      pool.data.set(v, off);
      this.slotLen[j] = v.length;
    }
  }

  /** Stop now (control plane, device down, runtime stop). */
  stop(why: number): void {
    if (this.state === GEN_RUNNING || this.state === GEN_STARTING) this.finish(why);
  }

  /*
   * End: parked frames go back to the cache; frames in flight become
   * ordinary frames (FS_GEN -> FS_USED) unless a remote free parked them
   * first, in which case they are parked and go back here.
   */
  private finish(why: number): void {
    const pool = this.pool;
    const meta = pool.meta;
    for (let s = 0; s < this.slotFd.length; s++) {
      const fd = this.slotFd[s]!;
      if (fd < 0) continue;
      const m = fd * FM_WORDS + FM_STATE;
      if (meta[m] === FS_GEN && Atomics.compareExchange(meta, m, FS_GEN, FS_USED) === FS_GEN) continue;
      /* parked: its fragments go back, then the head */
      if ((meta[fd * FM_WORDS + FM_FLAGS]! & FRAME_FLAG_HAS_FRAGS) !== 0) pool.freeFrags(fd);
      meta[m] = FS_FREE;
      pool.pushFree(fd);
    }
    this.slotFd.fill(-1);
    this.framesHeld = 0;
    const startedRunning = this.state === GEN_RUNNING;
    this.state = why;
    this.st[GS_SENT] = this.sent;
    this.st[GS_T1] = this.now();
    /* a generator that never ran lasted no time */
    if (!startedRunning) this.st[GS_T0] = this.st[GS_T1]!;
    this.st[GS_SLOTS] = 0;
    this.st[GS_STATE] = why;
  }
}
