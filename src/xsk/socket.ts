/*
 * AF_XDP sockets (net/xdp/xsk.c, Documentation/networking/af_xdp.rst): the
 * user-space side and the shared state the CPUs use.
 *
 * A socket is a UMEM (src/xsk/umem.ts) plus four rings in shared memory
 * (src/xsk/ring.ts): fill and completion (the UMEM's, addresses), RX and TX
 * (descriptors). User space produces fill and TX and consumes RX and
 * completion, with libxdp's ring protocol, from any thread (attach a view
 * with XdpSocketView.attach(sock.shared)). The "kernel" side is the CPU
 * that polls the bound (device, queue): it consumes fill and TX and
 * produces RX and completion (src/cpu/xsk.ts).
 *
 * The control words (XW_*): state (bound, closed), the bound device and
 * queue, the owner lock a CPU holds while it uses the kernel side of the
 * rings (a poll's deliveries up to its xsk_flush, or a TX batch), the TX
 * kick, and the XDP_STATISTICS counters the owner keeps (plain stores by
 * the lock holder, Atomics.load by readers).
 *
 * Copy mode only (XDP_COPY): veth and xdpsim's sinks have no zero-copy
 * support, as in the kernel (XDP_ZEROCOPY is EOPNOTSUPP there).
 */
import { XskUserRing, createXskRing, type XskRingKind } from './ring.ts';
import { Umem, type UmemShared } from './umem.ts';
import { CC_BELL, CC_SLEEPING, CC_WORDS } from '../shared/layout.ts';

/* sockaddr_xdp.sxdp_flags */
export const XDP_SHARED_UMEM = 1 << 0;
export const XDP_COPY = 1 << 1;
export const XDP_ZEROCOPY = 1 << 2;
export const XDP_USE_NEED_WAKEUP = 1 << 3;
export const XDP_USE_SG = 1 << 4;
/* the default ring sizes of libxdp (XSK_RING_PROD__DEFAULT_NUM_DESCS, XSK_RING_CONS__DEFAULT_NUM_DESCS) */
export const XSK_RING_DEFAULT = 2048;
/** TX_BATCH_SIZE of xsk_generic_xmit: descriptors sent per kick before the rest waits for the next round */
export const XSK_TX_BATCH_SIZE = 32;

export const XW_STATE = 0;
export const XW_IFINDEX = 1;
export const XW_QUEUE_ID = 2;
export const XW_RXQ = 3;       /* the global RX queue index of (device, queue id) */
export const XW_LOCK = 4;      /* cpu+1 of the CPU using the kernel side of the rings, 0: free */
export const XW_LAST = 5;      /* cpu+1 of the last CPU that did (its cached ring indexes are current) */
export const XW_TX_KICK = 6;   /* sendto(): TX descriptors wait */
export const XW_FLAGS = 7;     /* bind flags */
export const XW_RX_DROPPED = 8;
export const XW_RX_QUEUE_FULL = 9;
export const XW_RX_PACKETS = 10;  /* descriptors posted to RX (not an XDP_STATISTICS field: for tests and monitor) */
export const XW_TX_PACKETS = 11;  /* descriptors transmitted */
export const XW_TX_ERR = 12;      /* descriptors the device refused (the frame is dropped, the address completed) */
export const XW_FILL_INVALID = 13; /* fill addresses outside the UMEM (the fill queue's invalid_descs) */
export const XW_WORDS = 32;

export const XS_BOUND = 1;
export const XS_CLOSED = 2;
export const XS_UNBOUND = 3; /* its device was unregistered (xsk_unbind_dev) */

export interface XskRingShared { sab: SharedArrayBuffer; entries: number }

/** Everything a thread needs to use a socket: structured-clonable. */
export interface XskShared {
  id: number;
  ctl: SharedArrayBuffer;
  umem: UmemShared;
  fill: XskRingShared;
  comp: XskRingShared;
  rx: XskRingShared | null;
  tx: XskRingShared | null;
  /** the CPU control words and the CPU that polls the bound queue: sendto() rings its doorbell */
  cpuctl: SharedArrayBuffer;
  cpu: number;
}

/** struct xdp_statistics (XDP_STATISTICS getsockopt, with the extra fields of an XDP_STATISTICS-sized optlen). */
export interface XdpStatistics {
  rx_dropped: number;
  rx_invalid_descs: number;
  tx_invalid_descs: number;
  rx_ring_full: number;
  rx_fill_ring_empty_descs: number;
  tx_ring_empty_descs: number;
}

export function ringShared(entries: number, kind: XskRingKind): XskRingShared {
  return { sab: createXskRing(entries, kind), entries };
}

/** The user-space view of a socket, in any thread. */
export class XdpSocketView {
  readonly id: number;
  readonly umem: Umem;
  /** user space produces fill addresses (xsk_ring_prod) */
  readonly fill: XskUserRing;
  /** ... and consumes completed TX addresses (xsk_ring_cons) */
  readonly comp: XskUserRing;
  readonly rx: XskUserRing | null;
  readonly tx: XskUserRing | null;
  readonly shared: XskShared;
  protected readonly ctl: Int32Array;

  constructor(s: XskShared, umem?: Umem) {
    this.shared = s;
    this.id = s.id;
    this.umem = umem ?? Umem.attach(s.umem);
    this.ctl = new Int32Array(s.ctl);
    this.fill = new XskUserRing(s.fill.sab, 0, s.fill.entries, 'addr');
    this.comp = new XskUserRing(s.comp.sab, 0, s.comp.entries, 'addr');
    this.rx = s.rx === null ? null : new XskUserRing(s.rx.sab, 0, s.rx.entries, 'desc');
    this.tx = s.tx === null ? null : new XskUserRing(s.tx.sab, 0, s.tx.entries, 'desc');
  }

  /** A view of the same socket in this thread (the rings' cached indexes are per view: one user per ring). */
  static attach(s: XskShared): XdpSocketView {
    return new XdpSocketView(s);
  }

  /**
   * sendto(fd, NULL, 0, MSG_DONTWAIT, ...): kick TX. The CPU that polls the
   * bound queue transmits what the TX ring holds, XSK_TX_BATCH_SIZE per
   * round, and posts each address to the completion ring.
   */
  sendto(): void {
    Atomics.store(this.ctl, XW_TX_KICK, 1);
    const cc = new Int32Array(this.shared.cpuctl);
    const o = this.shared.cpu * CC_WORDS;
    if (Atomics.load(cc, o + CC_SLEEPING) !== 0) {
      Atomics.add(cc, o + CC_BELL, 1);
      Atomics.notify(cc, o + CC_BELL, 1);
    }
  }

  /** getsockopt(XDP_STATISTICS) */
  statistics(): XdpStatistics {
    const c = this.ctl;
    return {
      rx_dropped: Atomics.load(c, XW_RX_DROPPED) >>> 0,
      rx_invalid_descs: this.rx === null ? 0 : this.rx.invalidDescsShared(),
      tx_invalid_descs: this.tx === null ? 0 : this.tx.invalidDescsShared(),
      rx_ring_full: Atomics.load(c, XW_RX_QUEUE_FULL) >>> 0,
      rx_fill_ring_empty_descs: this.fill.queueEmptyDescsShared(),
      tx_ring_empty_descs: this.tx === null ? 0 : this.tx.queueEmptyDescsShared(),
    };
  }

  /** Counters beyond XDP_STATISTICS: descriptors received and transmitted, transmit errors, bad fill addresses. */
  counters(): { rx_packets: number; tx_packets: number; tx_err: number; fill_invalid: number } {
    const c = this.ctl;
    return {
      rx_packets: Atomics.load(c, XW_RX_PACKETS) >>> 0, tx_packets: Atomics.load(c, XW_TX_PACKETS) >>> 0,
      tx_err: Atomics.load(c, XW_TX_ERR) >>> 0, fill_invalid: Atomics.load(c, XW_FILL_INVALID) >>> 0,
    };
  }

  /** sendto() was called and the bound queue's CPU has not taken the kick yet */
  get txKicked(): boolean {
    return Atomics.load(this.ctl, XW_TX_KICK) !== 0;
  }
  get closed(): boolean {
    return Atomics.load(this.ctl, XW_STATE) === XS_CLOSED;
  }
  get bound(): boolean {
    return Atomics.load(this.ctl, XW_STATE) === XS_BOUND;
  }
  get ifindex(): number {
    return Atomics.load(this.ctl, XW_IFINDEX);
  }
  get queueId(): number {
    return Atomics.load(this.ctl, XW_QUEUE_ID);
  }

  /**
   * Wait (Atomics.wait: worker threads only; the main thread should poll)
   * until the RX ring has a descriptor or timeoutMs passes; returns how
   * many are available.
   */
  waitRx(timeoutMs: number): number {
    const rx = this.rx;
    if (rx === null) return 0;
    const end = performance.now() + timeoutMs;
    for (;;) {
      const n = rx.available();
      if (n > 0) return n;
      const left = end - performance.now();
      if (left <= 0) return 0;
      Atomics.wait(rx.words, 0, rx.producer() | 0, Math.min(left, 5));
    }
  }
}
