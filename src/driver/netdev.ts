/*
 * Net devices on the data path: the view of the shared device table, RX
 * queues and doorbells that every thread holds, and each device kind's
 * ndo_xdp_xmit.
 *
 * Concurrency: the device and RX queue tables are written by the control
 * plane only (see src/shared/layout.ts); device words are read here with
 * plain loads (see dev()), and so are the queue rows' words (ring()).
 * RX rings are MpscRings: any thread delivers into them (a veth's xmit from
 * any CPU, the main thread's traffic source), the CPU the queue is bound to
 * consumes. After delivering, the producer rings that CPU's doorbell, which
 * costs an Atomics.load unless the CPU sleeps (NODE-NOTES: notify only
 * when the consumer sleeps).
 *
 * Frames that an xmit does not take stay with the caller, who frees them:
 * the kernel's ndo_xdp_xmit contract (return the number sent or -errno).
 */
import {
  CC_BELL, CC_SLEEPING, CC_WORDS, DK_LOOPBACK, DK_SINK, DK_VETH, DS_REGISTERED, DS_UP, DT_FEATURES,
  DT_HARD_HEADER_LEN, DT_KIND, DT_MTU, DT_NRXQ, DT_PEER, DT_PROG, DT_RXQ_BASE, DT_STATE, DT_WORDS,
  RQ_CPU, RQ_IFINDEX, RQ_SIZE, RQ_WORDS, rxRingStride, type SharedState,
} from '../shared/layout.ts';
import { MpscRing } from '../shared/ring.ts';
import { FramePool } from '../shared/frame-pool.ts';
import { DEV_TX_BYTES, DEV_TX_PACKETS, DEV_XMIT_CONSUMED, devRow } from '../shared/counters.ts';
import { EINVAL, EMSGSIZE, ENETDOWN, ENOBUFS, ENXIO, EOPNOTSUPP } from '../shared/errno.ts';
import { VLAN_HLEN, XDP_XMIT_FLUSH } from '../shared/uapi.ts';

export class NetDevices {
  readonly devtab: Int32Array;
  readonly rxqtab: Int32Array;
  readonly cpuctl: Int32Array;
  readonly maxDevices: number;
  private readonly rings: (MpscRing | undefined)[];
  private readonly ringSab: SharedArrayBuffer;
  private readonly ringStride: number;
  /* the lengths of one bulk being sent (at most DEV_MAP_BULK_SIZE frames) */
  private readonly xmitLens = new Int32Array(64);

  constructor(readonly shared: SharedState, readonly pool: FramePool, readonly counters: Float64Array) {
    this.devtab = new Int32Array(shared.devtab);
    this.rxqtab = new Int32Array(shared.rxqtab);
    this.cpuctl = new Int32Array(shared.cpuctl);
    this.maxDevices = shared.limits.maxDevices;
    this.rings = new Array(shared.limits.maxRxQueues);
    this.ringSab = shared.rxrings;
    this.ringStride = rxRingStride(shared.limits);
  }

  /**
   * Device word `w` of `ifindex`. A plain load, as the kernel reads
   * dev->flags or dev->mtu: the control plane's change is seen by the next
   * frames, and a device is freed only after a grace period.
   */
  dev(ifindex: number, w: number): number {
    return this.devtab[ifindex * DT_WORDS + w]!;
  }
  isUp(ifindex: number): boolean {
    const s = this.dev(ifindex, DT_STATE);
    return (s & (DS_REGISTERED | DS_UP)) === (DS_REGISTERED | DS_UP);
  }

  /**
   * The ring of global RX queue q (view created on first use, recreated if
   * resized). The queue's words are read with plain loads, as the device
   * words are: the control plane writes them before it publishes the queue.
   */
  ring(q: number): MpscRing {
    const size = this.rxqtab[q * RQ_WORDS + RQ_SIZE]!;
    let r = this.rings[q];
    if (r === undefined || r.size !== size) {
      r = new MpscRing(this.ringSab, 4 * q * this.ringStride, size);
      this.rings[q] = r;
    }
    return r;
  }
  rxqCpu(q: number): number {
    return this.rxqtab[q * RQ_WORDS + RQ_CPU]!;
  }
  rxqIfindex(q: number): number {
    return Atomics.load(this.rxqtab, q * RQ_WORDS + RQ_IFINDEX);
  }

  /** Wake CPU `cpu` if it sleeps on its doorbell (napi_schedule). */
  ringDoorbell(cpu: number): void {
    const cc = this.cpuctl;
    const o = cpu * CC_WORDS;
    if (Atomics.load(cc, o + CC_SLEEPING) !== 0) {
      Atomics.add(cc, o + CC_BELL, 1);
      Atomics.notify(cc, o + CC_BELL, 1);
    }
  }

  /** Put frames[from..from+n) on RX queue `q` of its device; returns how many fit. */
  deliver(q: number, frames: Int32Array, from: number, n: number): number {
    const k = this.ring(q).produce(frames, from, n);
    if (k > 0) this.ringDoorbell(this.rxqCpu(q));
    return k;
  }

  /**
   * ndo_xdp_xmit of `ifindex`, called on CPU `cpu`: transmit frames[from..from+n).
   * Returns the number sent (a prefix of the array) or a negative errno, in
   * which case none was sent. `ndoXmit` is false for XDP_TX (veth keeps
   * separate counters for the two).
   */
  xdpXmit(ifindex: number, cpu: number, frames: Int32Array, from: number, n: number, flags: number,
    _ndoXmit: boolean): number {
    if ((flags & ~XDP_XMIT_FLUSH) !== 0) return -EINVAL;
    switch (this.dev(ifindex, DT_KIND)) {
      case DK_VETH: return this.vethXdpXmit(ifindex, cpu, frames, from, n, flags);
      case DK_SINK: return this.sinkXmit(ifindex, frames, from, n);
      case DK_LOOPBACK: return -EOPNOTSUPP;
      default: return -ENXIO;
    }
  }

  /*
   * veth_xdp_xmit(): frames go to the peer's RX ring chosen by the sending
   * CPU (veth_select_rxq: smp_processor_id() % real_num_rx_queues). The
   * peer must have NAPI running, which for xdpsim's veth means it is up and
   * has an XDP program (else -ENXIO). A frame longer than the peer's
   * mtu + hard_header_len + VLAN_HLEN, or a full ring, ends the send there:
   * what was taken so far is the return value.
   */
  private vethXdpXmit(ifindex: number, cpu: number, frames: Int32Array, from: number, n: number, flags: number): number {
    const peer = this.dev(ifindex, DT_PEER);
    if (peer === 0 || !this.isUp(peer) || this.dev(peer, DT_PROG) === 0) return -ENXIO;
    const nrxq = this.dev(peer, DT_NRXQ);
    if (nrxq === 0) return -ENXIO;
    const q = this.dev(peer, DT_RXQ_BASE) + (cpu % nrxq);
    const maxLen = this.dev(peer, DT_MTU) + this.dev(peer, DT_HARD_HEADER_LEN) + VLAN_HLEN;
    let ok = 0;
    let bytes = 0;
    const pool = this.pool;
    const lens = this.xmitLens;
    while (ok < n) {
      const fd = frames[from + ok]!;
      const len = pool.frameLen(fd);
      if (len > maxLen) break;
      bytes += len;
      if (ok < lens.length) lens[ok] = len;
      ok++;
    }
    const sent = ok === 0 ? 0 : this.ring(q).produce(frames, from, ok);
    if (sent < ok) {
      /* (lengths read before the hand-off: a frame on the peer's ring is no longer ours to read) */
      bytes = 0;
      for (let i = 0; i < sent; i++) bytes += lens[i]!;
    }
    if (sent > 0) {
      const c = this.counters;
      const row = devRow(ifindex);
      c[row + DEV_TX_PACKETS] += sent;
      c[row + DEV_TX_BYTES] += bytes;
    }
    /* __veth_xdp_flush(): the peer's NAPI is scheduled only when the sender flushes */
    if ((flags & XDP_XMIT_FLUSH) !== 0) this.ringDoorbell(this.rxqCpu(q));
    return sent;
  }

  /* A sink: transmits (counts) and frees everything while it is up. */
  private sinkXmit(ifindex: number, frames: Int32Array, from: number, n: number): number {
    if (!this.isUp(ifindex)) return -ENETDOWN;
    const c = this.counters;
    const row = devRow(ifindex);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const fd = frames[from + i]!;
      bytes += this.pool.frameLen(fd);
      this.pool.free(fd);
    }
    c[row + DEV_TX_PACKETS] += n;
    c[row + DEV_TX_BYTES] += bytes;
    c[row + DEV_XMIT_CONSUMED] += n;
    return n;
  }

  /**
   * A frame sent by the stack (dev_direct_xmit of an AF_XDP socket's TX,
   * queue `queueId`): veth_xmit() forwards it to the peer's RX queue
   * queueId % its queues (no XDP program needed: the peer's stack takes
   * it), if the peer is up, the frame within its MTU and the ring has room;
   * a sink consumes it. 0 when sent, else a negative errno (the caller
   * still owns the frame).
   */
  stackXmit(ifindex: number, queueId: number, fd: number): number {
    const len = this.pool.frameLen(fd);
    switch (this.dev(ifindex, DT_KIND)) {
      case DK_VETH: {
        if (!this.isUp(ifindex)) return -ENETDOWN;
        const peer = this.dev(ifindex, DT_PEER);
        if (peer === 0 || !this.isUp(peer)) return -ENXIO;
        const nrxq = this.dev(peer, DT_NRXQ);
        if (nrxq === 0) return -ENXIO;
        if (len > this.dev(peer, DT_MTU) + this.dev(peer, DT_HARD_HEADER_LEN) + VLAN_HLEN) return -EMSGSIZE;
        const q = this.dev(peer, DT_RXQ_BASE) + (queueId % nrxq);
        this.one[0] = fd;
        if (this.ring(q).produce(this.one, 0, 1) !== 1) return -ENOBUFS;
        const c = this.counters;
        const row = devRow(ifindex);
        c[row + DEV_TX_PACKETS]++;
        c[row + DEV_TX_BYTES] += len;
        this.ringDoorbell(this.rxqCpu(q));
        return 0;
      }
      case DK_SINK:
        this.one[0] = fd;
        return this.sinkXmit(ifindex, this.one, 0, 1) === 1 ? 0 : -ENETDOWN;
      default:
        return -EOPNOTSUPP;
    }
  }
  private readonly one = new Int32Array(1);

  features(ifindex: number): number {
    return this.dev(ifindex, DT_FEATURES);
  }
}
