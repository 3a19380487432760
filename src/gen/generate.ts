/*
 * A generator run, seen from the control plane: options, validation, the
 * per-queue plans sent to the CPUs, and the handle a caller waits on.
 */
import { EINVAL, EMSGSIZE, ENETDOWN, ENOENT, XdpsimError } from '../shared/errno.ts';
import { GEN_DEV_DOWN, GEN_DONE, GEN_NO_FRAMES, GEN_RUNNING, GEN_STARTING, GEN_STOPPED, GS_MISSED, GS_REWRITES, GS_SENT, GS_STALLS, GS_MAX_GAP, GS_STATE, GS_T0, GS_T1, GS_WORDS, GEN_SLOTS, WIRE_BACKLOG, type GenPlan } from '../cpu/wiregen.ts';
import { compileTraffic, flowsByQueue, shareCapture, splitExact, type TrafficSpec } from './plan.ts';
import { CaptureError, readCapture, type CaptureFile } from './pcap.ts';
import { fragSplit } from '../driver/source.ts';
import { MAX_SKB_FRAGS } from '../shared/frame-pool.ts';

export interface GenerateOptions {
  /** generated traffic (the default: 64-byte UDP/IPv4, one flow) */
  traffic?: TrafficSpec;
  /** replay a capture (a parsed file, or a path to a pcap/pcapng file) instead */
  replay?: CaptureFile | string;
  /** passes over the capture (default 1; with durationMs and no loops, until the duration ends) */
  loops?: number;
  /** replay at the capture's recorded pace (default: as fast as the rate allows) */
  paced?: boolean;
  /** frames in all (default: the capture x loops for a replay; unlimited with durationMs; else 1000) */
  count?: number;
  /** stop after this many ms */
  durationMs?: number;
  /** frames per second in all, spread over the queues like the flows; 0 or absent: as fast as the CPUs take them */
  rate?: number;
  /** all frames to this RX queue index instead of spreading them by RSS */
  queue?: number;
  /**
   * multi-buffer frames (XDP_FLAGS_HAS_FRAGS): true makes frames longer than
   * the buffer's linear room multi-buffer (up to 17 fragments of a frame
   * each), a number N keeps N bytes linear and puts the rest in fragments
   */
  frags?: boolean | number;
  /** frames each queue's generator holds (default 1024, GEN_SLOTS) */
  slots?: number;
}

export interface GenQueueResult {
  queue: number;
  cpu: number;
  sent: number;
  missed: number;
  rewrites: number;
  stalls: number;
  /** the longest time between two polls of the queue while its generator ran (or from its start to the first), ms: frames fall due meanwhile */
  maxGapMs: number;
  state: string;
  /** ms from this queue's first frame to its end */
  ms: number;
}

export interface GenerateResult {
  /** frames put on the wire, missed ones included */
  sent: number;
  /** frames due that found the RX ring full (counted as FULL_RING drops) */
  missed: number;
  /** wall time from start to the last queue's end, ms */
  ms: number;
  /** 'done', or why the run ended early: 'stopped', 'device down', 'no frames' */
  ended: string;
  queues: GenQueueResult[];
}

const STATE_NAMES: Record<number, string> = {
  [GEN_STARTING]: 'starting', [GEN_RUNNING]: 'running', [GEN_DONE]: 'done', [GEN_STOPPED]: 'stopped',
  [GEN_DEV_DOWN]: 'device down', [GEN_NO_FRAMES]: 'no frames',
};

export interface GenTarget {
  name: string;
  ifindex: number;
  /** global RX queue indexes */
  rxq: number[];
  /** the CPU polling each */
  cpuOf(q: number): number;
  ringSize(q: number): number;
  maxLen: number;
  maxLinearLen: number;
  frameSize: number;
  isUp(): boolean;
}

export interface Planned {
  plans: GenPlan[];
  status: Float64Array;
}

/** Validate options and make one plan per queue that carries traffic. */
export async function planGeneration(t: GenTarget, o: GenerateOptions, gid: number): Promise<Planned> {
  const where = `generate on '${t.name}'`;
  const nq = t.rxq.length;
  if (nq === 0) throw new XdpsimError(EINVAL, `${where}: the device has no RX queues`);
  if (!t.isUp()) throw new XdpsimError(ENETDOWN, `${where}: the device is down`);
  if (o.queue !== undefined && !(Number.isInteger(o.queue) && o.queue >= 0 && o.queue < nq)) {
    throw new XdpsimError(EINVAL, `${where}: queue ${o.queue} outside 0..${nq - 1}`);
  }
  const nonNeg = (v: number | undefined, what: string): void => {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new XdpsimError(EINVAL, `${where}: ${what} ${v} must be a non-negative number`);
  };
  nonNeg(o.rate, 'rate');
  nonNeg(o.durationMs, 'durationMs');
  if (o.count !== undefined && !(Number.isInteger(o.count) && o.count >= 0)) throw new XdpsimError(EINVAL, `${where}: count ${o.count} must be a non-negative integer`);
  if (o.slots !== undefined && !(Number.isInteger(o.slots) && o.slots >= 256)) throw new XdpsimError(EINVAL, `${where}: slots ${o.slots} must be an integer >= 256`);
  if (o.traffic !== undefined && o.replay !== undefined) throw new XdpsimError(EINVAL, `${where}: traffic and replay exclude each other`);
  const loops = o.loops ?? 1;
  if (!(Number.isInteger(loops) && loops >= 1)) throw new XdpsimError(EINVAL, `${where}: loops ${loops} must be an integer >= 1`);

  const split = fragSplit(o.frags, t.maxLinearLen, where);
  const slots = o.slots ?? GEN_SLOTS;
  const fits = (len: number, what: string): void => {
    if (len > t.maxLinearLen && split === Infinity) throw new XdpsimError(EMSGSIZE, `${where}: ${what} of ${len} bytes do not fit a frame (at most ${t.maxLinearLen}; frags: true makes them multi-buffer frames, or start the runtime with a larger frameSize)`);
    if (len > split && Math.ceil((len - split) / t.frameSize) > MAX_SKB_FRAGS) throw new XdpsimError(EMSGSIZE, `${where}: ${what} of ${len} bytes need more than ${MAX_SKB_FRAGS} fragments`);
    if (len > t.maxLen) throw new XdpsimError(EMSGSIZE, `${where}: ${what} of ${len} bytes exceed the device's mtu + headers (${t.maxLen})`);
  };
  let shares: number[];
  const perQueue: Array<Partial<GenPlan>> = [];
  let total: number;
  if (o.replay !== undefined) {
    let cap: CaptureFile;
    try {
      cap = typeof o.replay === 'string' ? await readCapture(o.replay) : o.replay;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (e instanceof CaptureError) throw new XdpsimError(EINVAL, `${where}: ${e.detail}`);
      if (code === 'ENOENT') throw new XdpsimError(ENOENT, `${where}: no capture file ${o.replay as string}`);
      if (e instanceof XdpsimError) throw new XdpsimError(e.errno, `${where}: ${e.message.replace(/^E[A-Z0-9]+: /, '')}`);
      throw e;
    }
    if (cap.packets.length === 0) throw new XdpsimError(EINVAL, `${where}: the capture has no packets`);
    cap.packets.forEach((p, i) => {
      const lt = cap.interfaces[p.ifIndex]?.linkType ?? cap.linkType;
      if (lt !== 1) throw new XdpsimError(EINVAL, `${where}: packet ${i} has link type ${lt}, only Ethernet (1) can be replayed`);
      if (p.data.length < 14) throw new XdpsimError(EINVAL, `${where}: packet ${i} has ${p.data.length} bytes, less than an Ethernet header`);
      fits(p.data.length, `packet ${i}`);
    });
    const { replay, byQueue } = shareCapture(cap, nq, o.queue);
    if (split !== Infinity && byQueue.some((l) => l.length > slots)) throw new XdpsimError(EINVAL, `${where}: a multi-buffer replay needs at most ${slots} packets per queue (the slots each queue's generator holds)`);
    shares = byQueue.map((l) => l.length);
    byQueue.forEach((packets) => perQueue.push({ replay, packets, paced: o.paced === true }));
    /* loops given: that many passes (a duration then only bounds the run); neither: one pass; a duration alone: loop until it ends */
    total = o.count ?? (o.loops !== undefined || !o.durationMs ? cap.packets.length * loops : -1);
  } else {
    const spec: TrafficSpec = o.traffic ?? {};
    let tr;
    try {
      tr = compileTraffic(spec);
    } catch (e) {
      throw new XdpsimError(EINVAL, `${where}: ${(e as Error).message}`);
    }
    fits(tr.maxSize, 'frames');
    if (split < tr.headerLen) throw new XdpsimError(EINVAL, `${where}: frags ${o.frags}: the linear part must hold the ${tr.headerLen} bytes of headers`);
    const byQueue = flowsByQueue(tr, nq, o.queue);
    if (split < tr.maxSize && tr.sizes.length > 1 && byQueue.some((l) => l.length * tr.sizes.length > slots)) {
      throw new XdpsimError(EINVAL, `${where}: multi-buffer frames of several sizes need flows x sizes per queue within the ${slots} slots`);
    }
    shares = byQueue.map((l) => l.length);
    byQueue.forEach((flows) => perQueue.push({ traffic: spec, flows }));
    total = o.count ?? (o.durationMs ? -1 : 1000);
  }
  /* counts and rates follow the queues' shares of the flows (or packets): what RSS would give them */
  const counts = total < 0 ? shares.map((s) => (s > 0 ? -1 : 0)) : splitExact(total, shares);
  const sum = shares.reduce((a, b) => a + b, 0);
  const rate = o.rate ?? 0;
  const status = new Float64Array(new SharedArrayBuffer(8 * GS_WORDS * nq));
  const plans: GenPlan[] = [];
  for (let qi = 0; qi < nq; qi++) {
    if (counts[qi] === 0) continue;
    const q = t.rxq[qi]!;
    plans.push({
      ...perQueue[qi], id: plans.length, gid, status: status.buffer as SharedArrayBuffer, q, ifindex: t.ifindex,
      count: counts[qi]!, durationMs: o.durationMs ?? 0, rate: rate > 0 ? (rate * shares[qi]!) / sum : 0,
      fragLinear: split === Infinity ? 0 : split, ringSize: Math.max(WIRE_BACKLOG, t.ringSize(q)), ...(o.slots !== undefined ? { maxSlots: o.slots } : {}),
    } as GenPlan);
  }
  return { plans, status };
}

/** The handle of a running generation. */
export class Generation {
  readonly done: Promise<GenerateResult>;
  private stopFn: () => Promise<void>;
  private readonly t0 = performance.now();
  constructor(private readonly planned: Planned, private readonly cpuOf: (q: number) => number, private readonly rxqIndex: (q: number) => number, started: Promise<boolean[]>, stop: () => Promise<void>) {
    this.stopFn = stop;
    this.done = this.wait(started);
    /* a start that failed rejects `done` too: the caller of generate() got that error already */
    this.done.catch(() => {});
  }

  /** Frames put on the wire so far (all queues). */
  sent(): number {
    let n = 0;
    for (const p of this.planned.plans) n += this.planned.status[p.id * GS_WORDS + GS_SENT]!;
    return n;
  }

  /** Stop every queue's generator now; `done` resolves with what was sent. */
  async stop(): Promise<GenerateResult> {
    await this.stopFn();
    return this.done;
  }

  private finished(): boolean {
    for (const p of this.planned.plans) {
      const s = this.planned.status[p.id * GS_WORDS + GS_STATE]!;
      if (s === GEN_STARTING || s === GEN_RUNNING) return false;
    }
    return true;
  }

  private async wait(started: Promise<boolean[]>): Promise<GenerateResult> {
    await started;
    /*
     * Poll the status words, 1 ms apart at first, then up to 16 ms: on a
     * machine whose cores the CPU workers fill, a main thread waking every
     * millisecond for the whole run takes time from them.
     */
    for (let delay = 1; !this.finished(); delay = Math.min(delay * 2, 16)) await new Promise((r) => setTimeout(r, delay));
    const st = this.planned.status;
    const queues: GenQueueResult[] = this.planned.plans.map((p) => {
      const b = p.id * GS_WORDS;
      return {
        queue: this.rxqIndex(p.q), cpu: this.cpuOf(p.q), sent: st[b + GS_SENT]!, missed: st[b + GS_MISSED]!,
        rewrites: st[b + GS_REWRITES]!, stalls: st[b + GS_STALLS]!, maxGapMs: st[b + GS_MAX_GAP]!, state: STATE_NAMES[st[b + GS_STATE]!] ?? '?',
        ms: st[b + GS_T1]! - st[b + GS_T0]!,
      };
    });
    const sent = queues.reduce((a, q) => a + q.sent, 0);
    const missed = queues.reduce((a, q) => a + q.missed, 0);
    const bad = queues.find((q) => q.state !== 'done');
    return { sent, missed, ms: performance.now() - this.t0, ended: bad?.state ?? 'done', queues };
  }
}
