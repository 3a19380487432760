/*
 * A packet capture of devices into a pcapng file, like xdpdump: frames at
 * XDP program entry, at exit (with the verdict), and at transmit after a
 * devmap program or XDP_TX (a point xdpdump does not have). One interface
 * description block per device; each packet's comment says the point, the
 * verdict, the CPU, the program id and the RX queue; entry and exit frames
 * are marked inbound, transmitted ones outbound (epb_flags).
 *
 * The CPUs copy frames into their capture rings (src/shared/capring.ts);
 * the runtime's collector hands each record to the capture of its device,
 * which appends an EPB to the file (synchronous writes on the main thread,
 * which is user space, as xdpdump's are).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { pcapngEpb, pcapngHead, EPB_INBOUND, EPB_OUTBOUND } from './gen/pcap.ts';
import { CAP_ENTRY, CAP_EXIT, CAP_POINT_NAMES, CAP_XMIT, type CapturedFrame } from './shared/capring.ts';
import { XDP_ACTION_NAMES, XDP_TX } from './shared/uapi.ts';

export type CapturePoint = 'entry' | 'exit' | 'xmit';

export interface CaptureOptions {
  /** the pcapng file to write */
  file: string;
  /** where (default entry and exit, as xdpdump --rx-capture entry,exit) */
  points?: CapturePoint[];
  /** bytes of each frame to keep (default 262144: all of it, up to the frame size) */
  snapLen?: number;
  /** stop after this many packets (default: until stop()) */
  count?: number;
}

export interface CaptureResult {
  file: string;
  packets: number;
  /** copies lost to a full capture ring while this capture ran (all CPUs' rings: shared with other captures) */
  lost: number;
  /** why the capture ended early: a write error (the file holds what was written before it) */
  error?: string;
}

export function pointBits(points: CapturePoint[]): number {
  let b = 0;
  for (const p of points) b |= p === 'entry' ? CAP_ENTRY : p === 'exit' ? CAP_EXIT : CAP_XMIT;
  return b;
}

/** The packet comment: point, verdict, CPU, program, queue. */
export function captureComment(f: CapturedFrame, device: string): string {
  const act = XDP_ACTION_NAMES[f.act] ?? `action ${f.act >>> 0}`;
  if (f.point === CAP_XMIT) {
    const how = f.act === XDP_TX ? 'XDP_TX' : f.prog !== 0 ? `XDP_REDIRECT, after devmap prog ${f.prog}` : 'XDP_REDIRECT';
    return `xdp xmit on ${device}: ${how}, cpu ${f.cpu}`;
  }
  return `xdp ${CAP_POINT_NAMES[f.point]} on ${device}${f.point === CAP_EXIT ? `: ${act}` : ''}, cpu ${f.cpu}, prog ${f.prog}, rxq ${f.rxq}`;
}

export class Capture {
  readonly file: string;
  readonly count: number;
  packets = 0;
  lostAtStart: number;
  private fd: number;
  private readonly index = new Map<number, number>();
  private readonly names = new Map<number, string>();
  private finish: (r: CaptureResult) => void = () => {};
  readonly done: Promise<CaptureResult>;
  closed = false;

  /** the points captured (CAP_* bits), and the runtime clock when the capture started */
  readonly bits: number;
  readonly startTs: number;
  /** why the capture ended early (a write error), if it did */
  error: string | undefined;
  private lostFinal = -1;

  constructor(o: CaptureOptions, devices: Array<{ ifindex: number; name: string }>, snapLen: number, private readonly epochNs: bigint,
    private readonly lostNow: () => number, private readonly release: (c: Capture) => void, bits: number, startTs: number) {
    this.bits = bits;
    this.startTs = startTs;
    this.file = o.file;
    this.count = o.count ?? Infinity;
    this.lostAtStart = lostNow();
    this.fd = openSync(o.file, 'w');
    writeSync(this.fd, pcapngHead(devices.map((d) => ({ name: d.name, snapLen }))));
    devices.forEach((d, i) => {
      this.index.set(d.ifindex, i);
      this.names.set(d.ifindex, d.name);
    });
    this.done = new Promise((r) => { this.finish = r; });
  }

  /** Is a record of `ifindex` this capture's? */
  owns(ifindex: number): boolean {
    return this.index.has(ifindex);
  }

  /** Append one record (the collector calls it); stops the capture at its count. */
  write(f: CapturedFrame): void {
    if (this.closed || this.packets >= this.count) return;
    /* a record of an earlier capture of the device (a CPU still in the poll that made it), or of a point not asked for */
    if ((f.point & this.bits) === 0 || f.ts < this.startTs) return;
    const i = this.index.get(f.ifindex)!;
    try {
      writeSync(this.fd, pcapngEpb(i, f.data, f.len, this.epochNs + BigInt(f.ts), captureComment(f, this.names.get(f.ifindex)!),
        f.point === CAP_XMIT ? EPB_OUTBOUND : EPB_INBOUND));
    } catch (e) {
      /* a full disk, an I/O error: the capture ends with the error, the runtime goes on */
      this.error = (e as Error).message;
      this.release(this);
      return;
    }
    this.packets++;
    if (this.packets >= this.count) this.release(this);
  }

  /** Close the file (the runtime stops the devices' capture first). */
  close(): CaptureResult {
    if (!this.closed) {
      this.closed = true;
      this.lostFinal = this.lostNow() - this.lostAtStart;
      try {
        closeSync(this.fd);
      } catch (e) {
        this.error ??= (e as Error).message;
      }
      this.finish(this.result());
    }
    return this.result();
  }

  result(): CaptureResult {
    const r: CaptureResult = { file: this.file, packets: this.packets, lost: this.closed ? this.lostFinal : this.lostNow() - this.lostAtStart };
    if (this.error !== undefined) r.error = this.error;
    return r;
  }
}

