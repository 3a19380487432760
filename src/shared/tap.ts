/*
 * The XDP_PASS tap: copies of frames handed to a device's "stack", for a
 * user handler on the main thread. The CPU copies the packet into its own
 * tap ring (SPSC, the CPU produces, the main thread consumes) only when the
 * device's DT_TAP flag is set; the frame itself is freed at once, as the
 * kernel's stack would consume it. A full ring loses the copy (counted in
 * CPU_TAP_LOST), never the accounting of the frame.
 *
 * Layout: [0] prod [1] cons [2..15] pad | meta: size * 5 Int32
 * (ifindex, bytes copied, rx queue, cpu, frame length) | bytes: size *
 * slotBytes. A multi-buffer frame is copied whole (linear part, then its
 * fragments), cut at slotBytes; `len` says how long it was.
 */
import type { FramePool } from './frame-pool.ts';

const HDR = 16;
const META = 5;

export function tapRingBytes(size: number, slotBytes: number): number {
  return 4 * HDR + 4 * META * size + size * slotBytes;
}

export interface TapPacket {
  ifindex: number;
  rxQueue: number;
  cpu: number;
  /** the frame's bytes (cut at the tap's slot size, frameSize) */
  data: Uint8Array;
  /** the frame's length (more than data.length if it was cut) */
  len: number;
}

export class TapRing {
  private readonly hdr: Int32Array;
  private readonly meta: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly size: number;
  private readonly slotBytes: number;

  constructor(sab: SharedArrayBuffer, size: number, slotBytes: number) {
    this.hdr = new Int32Array(sab, 0, HDR);
    this.meta = new Int32Array(sab, 4 * HDR, META * size);
    this.bytes = new Uint8Array(sab, 4 * HDR + 4 * META * size, size * slotBytes);
    this.size = size;
    this.slotBytes = slotBytes;
  }

  /** Producer: copy frame fd of `pool` (all of its buffers); false if the ring is full. */
  put(pool: FramePool, fd: number, ifindex: number, rxq: number, cpu: number): boolean {
    const p = this.hdr[0]!;
    if (((p - Atomics.load(this.hdr, 1)) | 0) >= this.size) return false;
    const slot = p & (this.size - 1);
    const n = pool.copyOut(fd, this.bytes, slot * this.slotBytes, this.slotBytes);
    const m = slot * META;
    this.meta[m] = ifindex;
    this.meta[m + 1] = n;
    this.meta[m + 2] = rxq;
    this.meta[m + 3] = cpu;
    this.meta[m + 4] = pool.frameLen(fd);
    Atomics.store(this.hdr, 0, (p + 1) | 0);
    return true;
  }

  /** Consumer: hand every copy to fn (each gets its own Uint8Array). */
  drain(fn: (p: TapPacket) => void): number {
    const c = this.hdr[1]!;
    const n = (Atomics.load(this.hdr, 0) - c) | 0;
    for (let i = 0; i < n; i++) {
      const slot = (c + i) & (this.size - 1);
      const m = slot * META;
      const off = slot * this.slotBytes;
      fn({
        ifindex: this.meta[m]!, rxQueue: this.meta[m + 2]!, cpu: this.meta[m + 3]!,
        data: this.bytes.slice(off, off + this.meta[m + 1]!), len: this.meta[m + 4]!,
      });
    }
    if (n > 0) Atomics.store(this.hdr, 1, (c + n) | 0);
    return n;
  }
}
