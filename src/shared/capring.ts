/*
 * Packet capture at the XDP hook, as xdpdump does it (fentry/fexit on the
 * program): a copy of a device's frames at program entry, at exit (with the
 * verdict), and at transmit after a devmap program (what xdpdump cannot see).
 *
 * Each CPU copies into its own ring in shared memory (SPSC: the CPU
 * produces, the main thread drains it into a pcapng file); a full ring
 * loses the copy, counted in CPU_CAP_LOST. What a device captures is its
 * DT_CAP word (CAP_* bits), read once per poll: off, capture costs one test
 * per frame.
 *
 * Layout: [0] prod [1] cons [2..15] pad | meta: size * META Int32 |
 * timestamps: size Float64 | bytes: size * slotBytes.
 */
import type { FramePool } from './frame-pool.ts';

export const CAP_ENTRY = 1;
export const CAP_EXIT = 2;
export const CAP_XMIT = 4;
export const CAP_POINT_NAMES: Record<number, string> = { [CAP_ENTRY]: 'entry', [CAP_EXIT]: 'exit', [CAP_XMIT]: 'xmit' };

const HDR = 16;
const META = 8; /* ifindex, point, act, prog id, rx queue, bytes copied, frame length, cpu */

export function capRingBytes(size: number, slotBytes: number): number {
  return 4 * HDR + 4 * META * size + 8 * size + size * slotBytes;
}

export interface CapturedFrame {
  ifindex: number;
  point: number;
  /** the verdict at exit; XDP_REDIRECT / XDP_TX at xmit; -1 at entry */
  act: number;
  prog: number;
  rxq: number;
  cpu: number;
  /** ns on the runtime's clock */
  ts: number;
  len: number;
  data: Uint8Array;
}

export class CaptureRing {
  private readonly hdr: Int32Array;
  private readonly meta: Int32Array;
  private readonly ts: Float64Array;
  private readonly bytes: Uint8Array;
  private readonly size: number;
  readonly slotBytes: number;

  constructor(sab: SharedArrayBuffer, size: number, slotBytes: number) {
    this.hdr = new Int32Array(sab, 0, HDR);
    this.meta = new Int32Array(sab, 4 * HDR, META * size);
    this.ts = new Float64Array(sab, 4 * HDR + 4 * META * size, size);
    this.bytes = new Uint8Array(sab, 4 * HDR + 4 * META * size + 8 * size, size * slotBytes);
    this.size = size;
    this.slotBytes = slotBytes;
  }

  /** Producer: copy frame fd (at most `snap` bytes); false if the ring is full. */
  put(pool: FramePool, fd: number, snap: number, ifindex: number, point: number, act: number, prog: number, rxq: number, cpu: number, ts: number): boolean {
    if (!this.stage(0, pool, fd, snap, ifindex, point, act, prog, rxq, cpu, ts)) return false;
    this.publish(1);
    return true;
  }

  /**
   * Producer: copy frame fd into the ahead-th slot after the published ones,
   * without publishing it (publish(k) makes the first k staged records
   * visible; the rest are forgotten). False if that slot is not free.
   */
  stage(ahead: number, pool: FramePool, fd: number, snap: number, ifindex: number, point: number, act: number, prog: number, rxq: number, cpu: number, ts: number): boolean {
    const p = (this.hdr[0]! + ahead) | 0;
    if (((p - Atomics.load(this.hdr, 1)) | 0) >= this.size) return false;
    const slot = p & (this.size - 1);
    const n = pool.copyOut(fd, this.bytes, slot * this.slotBytes, snap < this.slotBytes ? snap : this.slotBytes);
    const m = slot * META;
    const meta = this.meta;
    meta[m] = ifindex;
    meta[m + 1] = point;
    meta[m + 2] = act;
    meta[m + 3] = prog;
    meta[m + 4] = rxq;
    meta[m + 5] = n;
    meta[m + 6] = pool.frameLen(fd);
    meta[m + 7] = cpu;
    this.ts[slot] = ts;
    return true;
  }

  /** Producer: make the first k staged records visible to the consumer. */
  publish(k: number): void {
    if (k > 0) Atomics.store(this.hdr, 0, (this.hdr[0]! + k) | 0);
  }

  /** Consumer: every record, in order (each gets its own bytes). */
  drain(fn: (f: CapturedFrame) => void): number {
    const c = this.hdr[1]!;
    const n = (Atomics.load(this.hdr, 0) - c) | 0;
    for (let i = 0; i < n; i++) {
      const slot = (c + i) & (this.size - 1);
      const m = slot * META;
      const meta = this.meta;
      const off = slot * this.slotBytes;
      fn({
        ifindex: meta[m]!, point: meta[m + 1]!, act: meta[m + 2]!, prog: meta[m + 3]!, rxq: meta[m + 4]!,
        cpu: meta[m + 7]!, ts: this.ts[slot]!, len: meta[m + 6]!, data: this.bytes.slice(off, off + meta[m + 5]!),
      });
    }
    if (n > 0) Atomics.store(this.hdr, 1, (c + n) | 0);
    return n;
  }
}
