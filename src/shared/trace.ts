/*
 * Tracepoints: the kernel's xdp:* events (include/trace/events/xdp.h), with
 * their names and fields, recorded per CPU into a ring in shared memory the
 * way perf's per-CPU buffers are, and drained by the main thread.
 *
 * Concurrency: one ring per CPU; that CPU is the only producer, the main
 * thread's collector the only consumer (an SPSC record ring: plain stores
 * of the record, one Atomics.store to publish it). A full ring drops the
 * record and counts it in CPU_TRACE_LOST. Each tracepoint is guarded by one
 * flag check (`tp.on[TP_X]`) on the hot path; the flags live in the CPU's
 * own heap and are set by control messages.
 *
 * Layout of a ring: [0] prod [1] cons [2..15] pad | words: size * REC_WORDS
 * Int32 | ts: size Float64 (nanoseconds since the runtime epoch).
 */
import { XDP_ACTION_NAMES } from './uapi.ts';
import { DROP_REASONS } from './counters.ts';

export const TP_XDP_EXCEPTION = 0;
export const TP_XDP_BULK_TX = 1;
export const TP_XDP_REDIRECT = 2;
export const TP_XDP_REDIRECT_ERR = 3;
export const TP_XDP_DEVMAP_XMIT = 4;
/* xdpsim's own, for what the kernel leaves untraced: every frame freed as a drop (reason, device, length); off by default */
export const TP_XDPSIM_DROP = 5;
export const TP_XDP_CPUMAP_ENQUEUE = 6;
export const TP_XDP_CPUMAP_KTHREAD = 7;
/* xdpsim's own: a frame an AF_XDP socket refused (err: -ENOBUFS RX ring full, -ENOMEM fill ring empty, -ENOSPC too long, -EINVAL wrong device or queue) */
export const TP_XDPSIM_XSK_DROP = 8;
export const TP_COUNT = 9;

/** Field names, in the order of the kernel's TP_STRUCT__entry. */
export const TP_FIELDS: readonly (readonly string[])[] = [
  ['prog_id', 'act', 'ifindex'],
  ['ifindex', 'act', 'drops', 'sent', 'err'],
  ['prog_id', 'act', 'ifindex', 'err', 'to_ifindex', 'map_id', 'map_index'],
  ['prog_id', 'act', 'ifindex', 'err', 'to_ifindex', 'map_id', 'map_index'],
  ['from_ifindex', 'act', 'to_ifindex', 'drops', 'sent', 'err'],
  ['ifindex', 'reason', 'len'],
  ['map_id', 'act', 'cpu', 'drops', 'processed', 'to_cpu'],
  ['map_id', 'act', 'cpu', 'drops', 'processed', 'sched', 'xdp_pass', 'xdp_drop', 'xdp_redirect'],
  ['ifindex', 'queue_id', 'xsk', 'err', 'len'],
];
export const TP_NAMES = [
  'xdp_exception', 'xdp_bulk_tx', 'xdp_redirect', 'xdp_redirect_err', 'xdp_devmap_xmit', 'xdpsim_drop',
  'xdp_cpumap_enqueue', 'xdp_cpumap_kthread', 'xdpsim_xsk_drop',
] as const;
/** xdpsim's events recorded on the main thread: the end of each RCU grace period (gp, latency_ns); off by default */
export const MAIN_EVENTS = ['xdpsim_rcu_gp'] as const;
export type TracepointName = (typeof TP_NAMES)[number];

export const REC_WORDS = 10; /* type + up to 9 fields */
const HDR = 16;

export function traceRingBytes(size: number): number {
  return 4 * HDR + 4 * REC_WORDS * size + 8 * size;
}

export interface TraceEvent {
  cpu: number;
  ts: number;
  event: TracepointName | 'bpf_trace_printk' | (typeof MAIN_EVENTS)[number];
  [field: string]: number | string;
}

/** The CPU's side: writes records. */
export class TraceWriter {
  private readonly hdr: Int32Array;
  private readonly words: Int32Array;
  private readonly ts: Float64Array;
  private readonly mask: number;
  private readonly size: number;
  private readonly clock: () => number;
  /**
   * Per-tracepoint enable flags. All on, but xdp_redirect and xdpsim_drop:
   * a record per frame is for when you ask for it.
   */
  readonly on: Uint8Array = new Uint8Array(TP_COUNT).fill(1);
  lost = 0;

  constructor(sab: SharedArrayBuffer, size: number, clock: () => number) {
    this.hdr = new Int32Array(sab, 0, HDR);
    this.words = new Int32Array(sab, 4 * HDR, REC_WORDS * size);
    this.ts = new Float64Array(sab, 4 * HDR + 4 * REC_WORDS * size, size);
    this.size = size;
    this.mask = size - 1;
    this.clock = clock;
    this.on[TP_XDP_REDIRECT] = 0;
    this.on[TP_XDPSIM_DROP] = 0;
  }

  /** Reserve a record for event `type`; returns its word offset, or -1 (lost). */
  private begin(type: number): number {
    const p = this.hdr[0]!;
    if (((p - Atomics.load(this.hdr, 1)) | 0) >= this.size) {
      this.lost++;
      return -1;
    }
    const slot = p & this.mask;
    this.ts[slot] = this.clock();
    const o = slot * REC_WORDS;
    this.words[o] = type;
    return o;
  }
  private commit(): void {
    Atomics.store(this.hdr, 0, (this.hdr[0]! + 1) | 0);
  }

  emit3(type: number, a: number, b: number, c: number): void {
    const o = this.begin(type);
    if (o < 0) return;
    const w = this.words;
    w[o + 1] = a; w[o + 2] = b; w[o + 3] = c;
    this.commit();
  }
  emit5(type: number, a: number, b: number, c: number, d: number, e: number): void {
    const o = this.begin(type);
    if (o < 0) return;
    const w = this.words;
    w[o + 1] = a; w[o + 2] = b; w[o + 3] = c; w[o + 4] = d; w[o + 5] = e;
    this.commit();
  }
  emit6(type: number, a: number, b: number, c: number, d: number, e: number, f: number): void {
    const o = this.begin(type);
    if (o < 0) return;
    const w = this.words;
    w[o + 1] = a; w[o + 2] = b; w[o + 3] = c; w[o + 4] = d; w[o + 5] = e; w[o + 6] = f;
    this.commit();
  }
  emit7(type: number, a: number, b: number, c: number, d: number, e: number, f: number, g: number): void {
    const o = this.begin(type);
    if (o < 0) return;
    const w = this.words;
    w[o + 1] = a; w[o + 2] = b; w[o + 3] = c; w[o + 4] = d; w[o + 5] = e; w[o + 6] = f; w[o + 7] = g;
    this.commit();
  }
  emit9(type: number, a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number): void {
    const o = this.begin(type);
    if (o < 0) return;
    const w = this.words;
    w[o + 1] = a; w[o + 2] = b; w[o + 3] = c; w[o + 4] = d; w[o + 5] = e; w[o + 6] = f; w[o + 7] = g; w[o + 8] = h; w[o + 9] = i;
    this.commit();
  }
}

/** The collector's side: reads records of one CPU's ring into events. */
export class TraceReader {
  private readonly hdr: Int32Array;
  private readonly words: Int32Array;
  private readonly ts: Float64Array;
  private readonly mask: number;
  readonly cpu: number;

  constructor(sab: SharedArrayBuffer, size: number, cpu: number) {
    this.hdr = new Int32Array(sab, 0, HDR);
    this.words = new Int32Array(sab, 4 * HDR, REC_WORDS * size);
    this.ts = new Float64Array(sab, 4 * HDR + 4 * REC_WORDS * size, size);
    this.mask = size - 1;
    this.cpu = cpu;
  }

  drain(out: (e: TraceEvent) => void): number {
    const c = this.hdr[1]!;
    const n = (Atomics.load(this.hdr, 0) - c) | 0;
    for (let i = 0; i < n; i++) {
      const slot = (c + i) & this.mask;
      const o = slot * REC_WORDS;
      const type = this.words[o]!;
      const e: TraceEvent = { cpu: this.cpu, ts: this.ts[slot]!, event: TP_NAMES[type]! };
      const fields = TP_FIELDS[type]!;
      for (let f = 0; f < fields.length; f++) {
        const name = fields[f]!;
        let v = this.words[o + 1 + f]!;
        /* u32 fields of the kernel's records */
        if (name === 'act' || name === 'map_id') v >>>= 0;
        e[name] = v;
        if (name === 'act') e.act_name = XDP_ACTION_NAMES[v] ?? `XDP_UNKNOWN(${v})`;
        if (name === 'reason') e.reason_name = DROP_REASONS[v] ?? `reason ${v}`;
      }
      out(e);
    }
    if (n > 0) Atomics.store(this.hdr, 1, (c + n) | 0);
    return n;
  }
}

/*
 * bpf_trace_printk(): each CPU's messages in their own ring (the kernel
 * writes them into the trace buffer of the CPU), drained by the collector
 * into the same stream as the xdp:* records, as event 'bpf_trace_printk'
 * with the formatted message in `msg`. A slot holds PRINTK_MAX bytes of
 * UTF-8 (the kernel's MAX_BPRINTF_BUF); a full ring loses the message
 * (counted with the trace records).
 */
export const PRINTK_MAX = 1024; /* MAX_BPRINTF_BUF */
const PK_SLOTS = 256;

export function printkRingBytes(): number {
  return 4 * HDR + 4 * PK_SLOTS + 8 * PK_SLOTS + PK_SLOTS * PRINTK_MAX;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class PrintkRing {
  private readonly hdr: Int32Array;
  private readonly lens: Int32Array;
  private readonly ts: Float64Array;
  private readonly bytes: Uint8Array;
  constructor(sab: SharedArrayBuffer) {
    this.hdr = new Int32Array(sab, 0, HDR);
    this.lens = new Int32Array(sab, 4 * HDR, PK_SLOTS);
    this.ts = new Float64Array(sab, 4 * HDR + 4 * PK_SLOTS, PK_SLOTS);
    this.bytes = new Uint8Array(sab, 4 * HDR + 12 * PK_SLOTS, PK_SLOTS * PRINTK_MAX);
  }
  /** Producer: the message (cut at PRINTK_MAX bytes); false if the ring is full. */
  put(msg: string, ts: number): boolean {
    const p = this.hdr[0]!;
    if (((p - Atomics.load(this.hdr, 1)) | 0) >= PK_SLOTS) return false;
    const slot = p & (PK_SLOTS - 1);
    const r = enc.encodeInto(msg, this.bytes.subarray(slot * PRINTK_MAX, (slot + 1) * PRINTK_MAX));
    this.lens[slot] = r.written;
    this.ts[slot] = ts;
    Atomics.store(this.hdr, 0, (p + 1) | 0);
    return true;
  }
  drain(cpu: number, out: (e: TraceEvent) => void): number {
    const c = this.hdr[1]!;
    const n = (Atomics.load(this.hdr, 0) - c) | 0;
    for (let i = 0; i < n; i++) {
      const slot = (c + i) & (PK_SLOTS - 1);
      const msg = dec.decode(this.bytes.slice(slot * PRINTK_MAX, slot * PRINTK_MAX + this.lens[slot]!));
      out({ cpu, ts: this.ts[slot]!, event: 'bpf_trace_printk', msg });
    }
    if (n > 0) Atomics.store(this.hdr, 1, (c + n) | 0);
    return n;
  }
}
