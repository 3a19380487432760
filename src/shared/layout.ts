/*
 * The shared state every thread maps: created once by the control plane
 * (main thread) in Runtime.start() and posted to each CPU worker at spawn.
 * Nothing in it is reallocated while the runtime runs: devices and RX queues
 * take rows of preallocated tables, so a worker never needs a message to see
 * a new device, only a generation bump.
 *
 * Device table (DT_*): one row of Int32 words per ifindex. Written by the
 * control plane only (attach uses Atomics.exchange / compareExchange on
 * DT_PROG, the rest Atomics.store); read by CPUs with Atomics.load once per
 * poll or per bulk flush, never per frame.
 *
 * RX queue table (RQ_*): one row per RX queue (global index), written by the
 * control plane, which bumps G_RXQ_GEN after a change; a CPU rebuilds its
 * list of bound queues when it sees a new generation, between polls. Each
 * queue's ring is an MpscRing in the rx ring region (slot count RQ_SIZE).
 *
 * CPU control words (CC_*): per CPU. CC_BELL is the doorbell (a sequence
 * bumped by whoever rings it), CC_SLEEPING is set by the CPU before it
 * waits; CC_QS is its RCU quiescent-state counter (written by the CPU).
 */
import { createFramePool, type FramePoolShared } from './frame-pool.ts';
import { createCounters } from './counters.ts';
import { RING_HDR } from './ring.ts';
import { dropNoteBytes } from './dropnote.ts';
import { capRingBytes } from './capring.ts';
import { printkRingBytes } from './trace.ts';

export interface RuntimeLimits {
  cpus: number;
  frameSize: number;
  framesPerCpu: number;
  sourceFrames: number;
  budget: number;
  /** frames a devmap or XDP_TX bulk queue holds before it is sent: DEV_MAP_BULK_SIZE (16); less only as an ablation */
  bulkSize: number;
  maxDevices: number;
  maxRxQueues: number;
  maxRxRingSize: number;
  traceRingSize: number;
  tapRingSize: number;
  /** records of each CPU's packet capture ring (a power of two) */
  capRingSize: number;
}

export const DEFAULT_LIMITS: Omit<RuntimeLimits, 'cpus'> = {
  frameSize: 4096,
  framesPerCpu: 4096,
  sourceFrames: 4096,
  budget: 64,
  bulkSize: 16,
  maxDevices: 64,
  maxRxQueues: 128,
  maxRxRingSize: 4096,
  traceRingSize: 4096,
  tapRingSize: 1024,
  capRingSize: 1024,
};

/* device table */
export const DT_STATE = 0;     /* DS_* bits */
export const DT_KIND = 1;      /* DK_* */
export const DT_MTU = 2;
export const DT_FEATURES = 3;  /* xdp_features (NETDEV_XDP_ACT_*) */
export const DT_PEER = 4;      /* veth peer ifindex */
export const DT_NRXQ = 5;
export const DT_RXQ_BASE = 6;  /* global index of RX queue 0 */
export const DT_PROG = 7;      /* attached XDP program id, 0 = none */
export const DT_TAP = 8;       /* 1: copy XDP_PASS frames to the user's handler */
export const DT_HARD_HEADER_LEN = 9;
export const DT_CAP = 10;      /* packet capture points (CAP_* in src/shared/capring.ts), 0 = none */
export const DT_CAPLEN = 11;   /* capture snap length */
/*
 * What xdp_ok_fwd_dev() and __xdp_enqueue() check, in one word the control
 * plane derives from the others whenever it writes them: mtu +
 * hard_header_len + VLAN_HLEN while the device is registered, up and has
 * NETDEV_XDP_ACT_NDO_XMIT, else -1 (the redirect path then checks each
 * word itself, for the exact errno).
 */
export const DT_FWD_MAXLEN = 12;
export const DT_WORDS = 16;

export const DS_REGISTERED = 1 << 0;
export const DS_UP = 1 << 1;

export const DK_LOOPBACK = 1;
export const DK_VETH = 2;
export const DK_SINK = 3;
export const DEVICE_KIND_NAMES: Record<number, string> = { [DK_LOOPBACK]: 'loopback', [DK_VETH]: 'veth', [DK_SINK]: 'sink' };

/* RX queue table */
export const RQ_IFINDEX = 0;   /* 0 = free row */
export const RQ_INDEX = 1;     /* queue index within the device */
export const RQ_CPU = 2;       /* CPU that polls it */
export const RQ_SIZE = 3;      /* ring slots */
export const RQ_WORDS = 4;

/* global words */
export const G_RXQ_GEN = 0;
export const G_EPOCH_SET = 1;
export const G_GP_WAITERS = 2; /* writers waiting for a grace period (src/shared/rcu.ts) */
export const G_GP_WAKE = 3;    /* bumped by a CPU passing a quiescent state while writers wait */
export const G_GP_STARTED = 4; /* grace periods started (each snapshot is one, numbered) */
export const G_GP_DONE = 5;    /* the highest number of a grace period that has ended */
export const G_WORDS = 16;

/* per-CPU control words */
export const CC_BELL = 0;
export const CC_SLEEPING = 1;
export const CC_QS = 2;
export const CC_STATE = 3;     /* CS_* */
export const CC_IN_POLL = 4;   /* reserved: 1 while inside a NAPI poll (an RCU read side) */
export const CC_RXQ_SEEN = 5;  /* the RX queue table generation the CPU polls by */
export const CC_WORDS = 16;

export const CS_STARTING = 0;
export const CS_RUNNING = 1;
export const CS_STOP = 2;      /* asked to stop: drain, then exit */
export const CS_STOPPED = 3;

export interface SharedState {
  limits: RuntimeLimits;
  /** performance.timeOrigin of the main thread: ktime 0 */
  epochMs: number;
  pool: FramePoolShared;
  global: SharedArrayBuffer;
  devtab: SharedArrayBuffer;
  rxqtab: SharedArrayBuffer;
  rxrings: SharedArrayBuffer;
  cpuctl: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  trace: SharedArrayBuffer[];   /* per CPU */
  tap: SharedArrayBuffer[];     /* per CPU */
  /** per CPU: the message of the last exception a program threw (ExceptionNote) */
  excNote: SharedArrayBuffer[];
  /** per CPU: the last dropped frame of each drop reason (src/shared/dropnote.ts) */
  dropNote: SharedArrayBuffer[];
  /** per CPU: the packet capture ring (src/shared/capring.ts) */
  capture: SharedArrayBuffer[];
  /** per CPU: bpf_trace_printk messages (src/shared/trace.ts PrintkRing) */
  printk: SharedArrayBuffer[];
}

/** Words of one RX ring in the rx ring region. */
export function rxRingStride(limits: RuntimeLimits): number {
  return RING_HDR + limits.maxRxRingSize;
}

export function createSharedState(limits: RuntimeLimits, traceBytes: (l: RuntimeLimits) => number,
  tapBytes: (l: RuntimeLimits) => number): SharedState {
  const homes = limits.cpus + 1;
  /* the last home is the main thread's injector: give it sourceFrames */
  const perHome = Math.max(limits.framesPerCpu, limits.sourceFrames);
  return {
    limits,
    epochMs: performance.timeOrigin,
    pool: createFramePool(limits.frameSize, perHome, homes),
    global: new SharedArrayBuffer(4 * G_WORDS),
    devtab: newDevtab(limits.maxDevices),
    rxqtab: new SharedArrayBuffer(4 * RQ_WORDS * limits.maxRxQueues),
    rxrings: new SharedArrayBuffer(4 * rxRingStride(limits) * limits.maxRxQueues),
    cpuctl: new SharedArrayBuffer(4 * CC_WORDS * limits.cpus),
    counters: createCounters(limits.cpus, limits.maxDevices),
    trace: Array.from({ length: limits.cpus }, () => new SharedArrayBuffer(traceBytes(limits))),
    tap: Array.from({ length: limits.cpus }, () => new SharedArrayBuffer(tapBytes(limits))),
    excNote: Array.from({ length: limits.cpus }, () => new SharedArrayBuffer(EXC_NOTE_BYTES)),
    dropNote: Array.from({ length: limits.cpus }, () => new SharedArrayBuffer(dropNoteBytes())),
    capture: Array.from({ length: limits.cpus }, () => new SharedArrayBuffer(capRingBytes(limits.capRingSize, limits.frameSize))),
    printk: Array.from({ length: limits.cpus }, () => new SharedArrayBuffer(printkRingBytes())),
  };
}

/* the device table: a row nobody registered is no forward target (DT_FWD_MAXLEN -1) */
function newDevtab(maxDevices: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(4 * DT_WORDS * maxDevices);
  const t = new Int32Array(sab);
  for (let d = 0; d < maxDevices; d++) t[d * DT_WORDS + DT_FWD_MAXLEN] = -1;
  return sab;
}

/** Nanoseconds since the runtime's epoch, on any thread: bpf_ktime_get_ns(). */
export function makeClock(epochMs: number): () => number {
  const off = performance.timeOrigin - epochMs;
  return () => Math.round((off + performance.now()) * 1e6);
}

/*
 * The last exception's message, per CPU: [0] sequence (odd while being
 * written), [1] length, then UTF-16 code units. Written by the CPU on the
 * (rare) exception path, read by stats(); a reader that sees the sequence
 * change or odd retries.
 */
export const EXC_NOTE_CHARS = 256;
export const EXC_NOTE_BYTES = 8 + 2 * EXC_NOTE_CHARS;

export function writeExcNote(sab: SharedArrayBuffer, msg: string): void {
  const h = new Int32Array(sab, 0, 2);
  const c = new Uint16Array(sab, 8, EXC_NOTE_CHARS);
  const n = Math.min(msg.length, EXC_NOTE_CHARS);
  Atomics.add(h, 0, 1);
  for (let i = 0; i < n; i++) c[i] = msg.charCodeAt(i);
  h[1] = n;
  Atomics.add(h, 0, 1);
}

export function readExcNote(sab: SharedArrayBuffer): string {
  const h = new Int32Array(sab, 0, 2);
  const c = new Uint16Array(sab, 8, EXC_NOTE_CHARS);
  for (;;) {
    const seq = Atomics.load(h, 0);
    if (seq & 1) continue;
    const s = String.fromCharCode(...c.subarray(0, h[1]!));
    if (Atomics.load(h, 0) === seq) return s;
  }
}
