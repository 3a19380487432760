/*
 * The kernel side of AF_XDP sockets on a CPU (net/xdp/xsk.c, copy mode):
 *
 *  - redirectXskmap(): bpf_redirect_map() on an XSKMAP (xsk_map_redirect);
 *  - xskRcv(): __xdp_do_redirect_xsk() -> xsk_rcv(): the socket must be
 *    bound (-ENXIO) to the frame's device and queue (-EINVAL); the frame
 *    must fit a chunk (-ENOSPC, rx_dropped); a buffer comes from the fill
 *    ring (empty: -ENOMEM, rx_dropped and the fill ring's empty count); an
 *    RX descriptor is reserved (full: -ENOBUFS, rx_queue_full); the frame
 *    (and its metadata) is copied into the chunk and the frame freed. The
 *    socket joins this CPU's xsk flush list;
 *  - xskFlush(): __xsk_map_flush() at xdp_do_flush(): publish the RX
 *    descriptors and the fill ring's consumption, wake the reader;
 *  - XskTable.txRound(): TX of the sockets bound to this CPU's queues: the
 *    descriptors on the TX ring are copied into frames and transmitted on
 *    the bound device as the stack would (veth_xmit to the peer, or a sink),
 *    XSK_TX_BATCH_SIZE per round while the socket is kicked, each address
 *    posted to the completion ring (xsk_generic_xmit; see the README for
 *    why the bound queue's CPU does it rather than sendmsg()).
 *
 * The kernel side of a socket's rings is used by one CPU at a time: the
 * CPU takes the socket's owner lock (XW_LOCK) at its first delivery in a
 * poll and drops it at xsk_flush (or around a TX round). A CPU that was not
 * the last owner reloads its cached ring indexes first; every owner
 * publishes them before it lets go, as xsk_flush does.
 */
import { BPF_MAP_TYPE_UNSPEC, XDP_ABORTED, XDP_REDIRECT } from '../shared/uapi.ts';
import { ENOBUFS, ENOMEM, ENOSPC, ENXIO, EINVAL } from '../shared/errno.ts';
import { FM_DATA, FM_LEN, FM_METASIZE, FM_WORDS } from '../shared/frame-pool.ts';
import { DEV_XSK_RX, DEV_XSK_TX, DR_XSK_TX_ERR, devRow } from '../shared/counters.ts';
import { TP_XDPSIM_XSK_DROP } from '../shared/trace.ts';
import { XSK_RING_CONS, XSK_RING_PROD, XskQueue } from '../xsk/ring.ts';
import { Umem } from '../xsk/umem.ts';
import {
  XDP_USE_SG, XS_BOUND, XSK_TX_BATCH_SIZE, XW_FILL_INVALID, XW_FLAGS, XW_IFINDEX, XW_LAST, XW_LOCK, XW_QUEUE_ID, XW_RXQ,
  XW_RX_DROPPED, XW_RX_PACKETS, XW_RX_QUEUE_FULL, XW_STATE, XW_TX_ERR, XW_TX_KICK, XW_TX_PACKETS, type XskShared,
} from '../xsk/socket.ts';
import type { XskMap } from '../maps/xskmap.ts';
import { INT_MAX, type RedirectInfo } from './redirect.ts';
import type { Cpu } from './cpu.ts';

const ACTION_MASK = 3;

/* xsk_map_redirect() -> __bpf_xdp_redirect_map(map, index, flags, 0, __xsk_map_lookup_elem) */
export function redirectXskmap(ri: RedirectInfo, map: XskMap, key: number, flags: number): number {
  if (flags !== 0 && (!Number.isInteger(flags) || flags < 0 || (flags & ~ACTION_MASK) !== 0 || flags > 0xffffffff)) return XDP_ABORTED;
  const id = map.lookupSock(key >>> 0);
  if (id === 0) {
    ri.tgtValue = -1;
    ri.mapId = INT_MAX;
    ri.mapType = BPF_MAP_TYPE_UNSPEC;
    return flags & ACTION_MASK;
  }
  ri.tgtValue = id;
  ri.tgtIndex = key >>> 0;
  ri.mapId = map.shared.id;
  ri.mapType = map.shared.type;
  ri.map = null;
  ri.flags = 0;
  return XDP_REDIRECT;
}

/*
 * memcpy between the frame pool and a UMEM (different buffers): 4 bytes at
 * a time when both ends are 4-byte aligned, so a 1500-byte frame is 375
 * word moves, and no view is allocated per frame.
 */
function copy(dst: Uint8Array, dst32: Int32Array, d: number, src: Uint8Array, src32: Int32Array, s: number, len: number): void {
  let i = 0;
  if (((d | s) & 3) === 0) {
    const dw = d >> 2;
    const sw = s >> 2;
    const words = len >> 2;
    for (let k = 0; k < words; k++) dst32[dw + k] = src32[sw + k]!;
    i = words << 2;
  }
  for (; i < len; i++) dst[d + i] = src[s + i]!;
}

/** One socket as a CPU sees it. */
export class XskCpu {
  readonly id: number;
  readonly ctl: Int32Array;
  readonly umem: Umem;
  readonly fq: XskQueue;
  readonly cq: XskQueue;
  readonly rx: XskQueue | null;
  readonly tx: XskQueue | null;
  readonly ifindex: number;
  readonly queueId: number;
  readonly rxq: number;
  readonly sg: boolean;
  /** the UMEM as 32-bit words (its memory is page aligned) */
  readonly words: Int32Array;
  /** this CPU holds the owner lock (between its first delivery of a poll and xsk_flush) */
  held = false;

  constructor(s: XskShared) {
    this.id = s.id;
    this.ctl = new Int32Array(s.ctl);
    this.umem = Umem.attach(s.umem);
    this.fq = new XskQueue(s.fill.sab, 0, s.fill.entries, 'addr');
    this.cq = new XskQueue(s.comp.sab, 0, s.comp.entries, 'addr');
    this.rx = s.rx === null ? null : new XskQueue(s.rx.sab, 0, s.rx.entries, 'desc');
    this.tx = s.tx === null ? null : new XskQueue(s.tx.sab, 0, s.tx.entries, 'desc');
    this.ifindex = this.ctl[XW_IFINDEX]!;
    this.queueId = this.ctl[XW_QUEUE_ID]!;
    this.rxq = this.ctl[XW_RXQ]!;
    this.sg = (this.ctl[XW_FLAGS]! & XDP_USE_SG) !== 0;
    const u = this.umem;
    this.words = new Int32Array(u.bytes.buffer, u.bytes.byteOffset, u.bytes.byteLength >> 2);
  }

  /** Take the owner lock if it is free: false if another CPU holds it. */
  tryAcquire(cpu: number): boolean {
    if (Atomics.compareExchange(this.ctl, XW_LOCK, 0, cpu + 1) !== 0) return false;
    this.resync(cpu);
    return true;
  }

  /* take the owner lock (the caller holds no other socket's: no lock-order deadlock); reload the cached ring indexes if another CPU used the rings since */
  acquire(cpu: number): void {
    const c = this.ctl;
    const me = cpu + 1;
    if (Atomics.compareExchange(c, XW_LOCK, 0, me) !== 0) {
      for (let spins = 0; ; spins++) {
        if (c[XW_LOCK] === 0 && Atomics.compareExchange(c, XW_LOCK, 0, me) === 0) break;
        if (spins > 256) Atomics.wait(c, XW_LOCK, c[XW_LOCK]!, 0.01);
      }
    }
    this.resync(cpu);
  }

  private resync(cpu: number): void {
    const c = this.ctl;
    const me = cpu + 1;
    if (c[XW_LAST] !== me) {
      for (const q of [this.fq, this.cq, this.rx, this.tx]) {
        if (q === null) continue;
        q.cachedProd = Atomics.load(q.words, XSK_RING_PROD) >>> 0;
        q.cachedCons = Atomics.load(q.words, XSK_RING_CONS) >>> 0;
      }
      c[XW_LAST] = me;
    }
  }
  release(): void {
    this.held = false;
    Atomics.store(this.ctl, XW_LOCK, 0);
    Atomics.notify(this.ctl, XW_LOCK);
  }
}

/** The sockets this CPU knows (every socket, by id) and its xsk flush list. */
export class XskTable {
  private readonly c: Cpu;
  readonly socks: (XskCpu | undefined)[] = [];
  private readonly flushList: XskCpu[] = [];
  private flushLen = 0;
  /* sockets whose bound queue this CPU polls: it does their TX */
  private mine: XskCpu[] = [];
  private mineGen = -1;
  private gen = 0;

  /* the frame pool's memory as 32-bit words */
  private readonly pool32: Int32Array;

  constructor(c: Cpu) {
    this.c = c;
    const d = c.pool.data;
    this.pool32 = new Int32Array(d.buffer, d.byteOffset, d.byteLength >> 2);
  }

  add(s: XskShared): void {
    this.socks[s.id] = new XskCpu(s);
    this.gen++;
  }
  /** The socket was closed and its grace period is over: forget it. */
  drop(id: number): void {
    const xs = this.socks[id];
    if (xs === undefined) return;
    this.socks[id] = undefined;
    this.gen++;
  }

  pending(): number {
    return this.flushLen;
  }

  /** xsk_rcv(): 0, or the negative errno xdp_do_redirect() returns (the caller drops the frame). */
  rcv(id: number, fd: number, devRx: number, rxq: number): number {
    const c = this.c;
    const xs = this.socks[id];
    /* xsk_rcv_check() */
    if (xs === undefined || Atomics.load(xs.ctl, XW_STATE) !== XS_BOUND) return -ENXIO;
    if (xs.ifindex !== devRx || xs.queueId !== rxq) return this.refuse(xs, -EINVAL, fd);
    const rx = xs.rx;
    if (rx === null) return this.refuse(xs, -EINVAL, fd);
    /*
     * The rings' kernel side is this CPU's while it holds the socket's lock:
     * from the first delivery of a poll to xsk_flush. A socket held by
     * another CPU is waited for with none of ours held (they are flushed
     * first), so two CPUs never wait for each other.
     */
    const took = !xs.held;
    if (took && !xs.tryAcquire(c.cpu)) {
      if (this.flushLen !== 0) this.flush();
      xs.acquire(c.cpu);
    }
    const err = this.deliver(xs, fd, devRx);
    if (took) {
      /* __xsk_map_redirect(): only a socket that took the frame joins the flush list */
      if (err === 0) {
        xs.held = true;
        this.flushList[this.flushLen++] = xs;
      } else {
        xs.fq.consPublish();
        xs.release();
      }
    }
    return err;
  }

  /* __xsk_rcv(): the lock is held */
  private deliver(xs: XskCpu, fd: number, devRx: number): number {
    const c = this.c;
    const rx = xs.rx!;
    const pool = c.pool;
    const len = pool.frameLen(fd);
    const ctl = xs.ctl;
    const umem = xs.umem;
    if (len > umem.rxFrameSize()) {
      ctl[XW_RX_DROPPED] = (ctl[XW_RX_DROPPED]! + 1) | 0;
      return this.refuse(xs, -ENOSPC, fd);
    }
    /* xsk_buff_alloc(): the fill ring; an address outside the UMEM is skipped (the fill queue's invalid_descs) */
    const fq = xs.fq;
    let base = -1;
    for (;;) {
      if (!fq.consPeek()) {
        ctl[XW_RX_DROPPED] = (ctl[XW_RX_DROPPED]! + 1) | 0;
        return this.refuse(xs, -ENOMEM, fd);
      }
      base = umem.fillAddr(fq.addr(fq.idx));
      if (base >= 0) break;
      fq.countInvalid();
      ctl[XW_FILL_INVALID] = (ctl[XW_FILL_INVALID]! + 1) | 0;
      fq.consRelease(1);
    }
    /* __xsk_rcv_zc() -> xskq_prod_reserve_desc(); a full RX ring leaves the fill entry for the next frame */
    const addr = umem.rxDataAddr(base);
    if (rx.prodReserveDesc(addr, len, 0) !== 0) {
      ctl[XW_RX_QUEUE_FULL] = (ctl[XW_RX_QUEUE_FULL]! + 1) | 0;
      return this.refuse(xs, -ENOBUFS, fd);
    }
    fq.consRelease(1);
    /* the copy, metadata first (xsk_copy_xdp_start: from data_meta) */
    const m = fd * FM_WORDS;
    const metaLen = pool.meta[m + FM_METASIZE]!;
    const start = pool.base(fd) + pool.meta[m + FM_DATA]!;
    if (pool.nrFrags(fd) === 0) copy(umem.bytes, xs.words, addr - metaLen, pool.data, this.pool32, start - metaLen, metaLen + pool.meta[m + FM_LEN]!);
    else {
      /* a multi-buffer frame that fits one chunk: linearized */
      if (metaLen > 0) copy(umem.bytes, xs.words, addr - metaLen, pool.data, this.pool32, start - metaLen, metaLen);
      pool.copyOut(fd, umem.bytes, addr, len);
    }
    ctl[XW_RX_PACKETS] = (ctl[XW_RX_PACKETS]! + 1) | 0;
    c.ctr[devRow(devRx) + DEV_XSK_RX]++;
    pool.free(fd);
    return 0;
  }

  private refuse(xs: XskCpu, err: number, fd: number): number {
    const tr = this.c.trace;
    if (tr.on[TP_XDPSIM_XSK_DROP]) tr.emit5(TP_XDPSIM_XSK_DROP, xs.ifindex, xs.queueId, xs.id, err, this.c.pool.frameLen(fd));
    return err;
  }

  /* __xsk_map_flush() -> xsk_flush(): RX descriptors and the fill ring's consumption published, the reader woken */
  flush(): void {
    /* newest first, as list_add() builds the kernel's list */
    for (let i = this.flushLen - 1; i >= 0; i--) {
      const xs = this.flushList[i]!;
      xs.rx!.prodSubmit();
      xs.fq.consPublish();
      xs.release();
      Atomics.notify(xs.rx!.words, XSK_RING_PROD);
    }
    this.flushLen = 0;
  }

  /** Is any socket of this CPU's queues kicked for TX? */
  hasWork(): boolean {
    if (this.gen === 0) return false;
    this.refreshMine();
    for (const xs of this.mine) if (Atomics.load(xs.ctl, XW_TX_KICK) !== 0) return true;
    return false;
  }

  private refreshMine(): void {
    if (this.mineGen === this.gen + this.c.queueGen()) return;
    this.mineGen = this.gen + this.c.queueGen();
    this.mine = this.socks.filter((x): x is XskCpu => x !== undefined && x.tx !== null && this.c.pollsQueue(x.rxq));
  }

  /** TX of every kicked socket bound to this CPU's queues: at most XSK_TX_BATCH_SIZE descriptors each; returns how many. */
  txRound(): number {
    if (this.gen === 0) return 0;
    this.refreshMine();
    let work = 0;
    for (const xs of this.mine) {
      if (Atomics.load(xs.ctl, XW_TX_KICK) === 0 || Atomics.load(xs.ctl, XW_STATE) !== XS_BOUND) continue;
      Atomics.store(xs.ctl, XW_TX_KICK, 0);
      xs.acquire(this.c.cpu);
      work += this.xmit(xs);
      xs.tx!.consPublish();
      xs.cq.prodSubmit();
      xs.release();
      Atomics.notify(xs.cq.words, XSK_RING_PROD);
    }
    return work;
  }

  /*
   * __xsk_generic_xmit(): one call. Peek a descriptor (an invalid one is
   * skipped and ends the call; an empty ring ends it and counts
   * tx_ring_empty_descs), stop at XSK_TX_BATCH_SIZE (-EAGAIN: xdpsim takes
   * it as the application's retry and keeps the socket kicked), reserve a
   * completion slot (full: -EAGAIN, the application must sendto() again),
   * build the frame and transmit it; a refused transmit (NET_XMIT_DROP)
   * frees the frame, completes its address and ends the call (-EBUSY).
   */
  private xmit(xs: XskCpu): number {
    const c = this.c;
    const tx = xs.tx!;
    const cq = xs.cq;
    const umem = xs.umem;
    const pool = c.pool;
    const row = devRow(xs.ifindex);
    const ctl = xs.ctl;
    let n = 0;
    for (;;) {
      if (!tx.consPeekDesc(umem)) {
        /* an invalid descriptor (counted in tx_invalid_descs) is released and ends the call */
        if (tx.hasDescs()) tx.consRelease(1);
        break;
      }
      if (n === XSK_TX_BATCH_SIZE) {
        Atomics.store(ctl, XW_TX_KICK, 1);
        break;
      }
      const i = tx.idx;
      const addr = tx.descAddr(i);
      const len = tx.descLen(i);
      /* backpressure: a completion slot first (xsk_cq_reserve_locked) */
      if (cq.prodReserve(1) !== 0) break;
      cq.setAddr(cq.idx, addr);
      tx.consRelease(1);
      n++;
      const fd = len > pool.maxLinearLen ? -1 : pool.alloc();
      if (fd < 0) {
        /* a frame xdpsim cannot build (longer than a frame's linear part, or no free frame): dropped as a refused transmit */
        ctl[XW_TX_ERR] = (ctl[XW_TX_ERR]! + 1) | 0;
        break;
      }
      const m = fd * FM_WORDS;
      copy(pool.data, this.pool32, pool.base(fd) + pool.meta[m + FM_DATA]!, umem.bytes, xs.words, addr, len);
      pool.meta[m + FM_LEN] = len;
      c.ctr[row + DEV_XSK_TX]++;
      if (c.devs.stackXmit(xs.ifindex, xs.queueId, fd) < 0) {
        /* NET_XMIT_DROP: the skb is freed, its address still completes, the call ends */
        ctl[XW_TX_ERR] = (ctl[XW_TX_ERR]! + 1) | 0;
        c.drop(fd, row, DR_XSK_TX_ERR);
        break;
      }
      ctl[XW_TX_PACKETS] = (ctl[XW_TX_PACKETS]! + 1) | 0;
    }
    return n;
  }
}
