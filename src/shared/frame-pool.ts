/*
 * The frame pool: every xdp_frame in the runtime, in shared memory.
 *
 * A frame is a buffer of `frameSize` bytes (default 4096, a page) plus a record of
 * metadata words. The buffer is laid out as the kernel lays out an xdp_buff:
 *
 *   0                  XDP_FRAME_SIZE   data_meta  data        data_end    hard_end   frameSize
 *   | struct xdp_frame | headroom ...   | meta     | packet    | tailroom  | skb_shared_info |
 *
 * The first XDP_FRAME_SIZE (40) bytes stand for the struct xdp_frame that the
 * kernel keeps at the top of the headroom (bpf_xdp_adjust_head/meta may not
 * go below it) and the last SKB_SHARED_INFO_SIZE (320) bytes for the
 * skb_shared_info the kernel reserves at the end (bpf_xdp_adjust_tail may not
 * grow into it). A received frame starts at XDP_PACKET_HEADROOM (256).
 *
 * Frames move between threads as descriptors: the frame's index.
 *
 * Ownership and homes. The pool is split into `homes` contiguous ranges: one
 * per simulated CPU (its page_pool) and one per user-space injector (the
 * main thread's traffic source is the last home). A home's free frames sit
 * in its cache, a stack in shared memory that only the owning thread
 * touches (plain access). A frame freed by its home goes back on the stack;
 * a frame freed elsewhere is batched per home and pushed into that home's
 * return ring (an MpscRing as large as the range, so it can never be full),
 * which the home drains into its cache when the cache runs dry. This is the
 * kernel page_pool's split between direct recycling and its ptr_ring.
 *
 * Metadata words (FM_*) of a frame are written only by the thread that holds
 * the frame (it was allocated by, or handed through a ring to, that thread):
 * the ring hand-off orders them. FM_STATE catches double frees.
 */
import { MpscRing, createRingBuffer } from './ring.ts';
import { XDP_PACKET_HEADROOM } from './uapi.ts';

/** sizeof(struct xdp_frame) on x86_64: the lowest data_meta may go. */
export const XDP_FRAME_SIZE = 40;
/** SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86_64: reserved tailroom. */
export const SKB_SHARED_INFO_SIZE = 320;

export const FM_DATA = 0;      /* offset of data from the buffer start */
export const FM_LEN = 1;       /* data_end - data */
export const FM_METASIZE = 2;  /* data - data_meta */
export const FM_FLAGS = 3;     /* XDP_FLAGS_HAS_FRAGS ... */
export const FM_INGRESS = 4;   /* ingress ifindex (xdp_rxq_info->dev): set when the frame is redirected */
export const FM_RXQ = 5;       /* rx queue index: set when the frame is redirected */
export const FM_STATE = 6;     /* FS_*: 0 free, 1 in use, 2 a generator's frame in use, 3 a generator's frame parked */
export const FM_AUX = 7;       /* free for the current holder (e.g. the tx path) */
export const FM_WORDS = 8;

export const FRAME_FLAG_HAS_FRAGS = 1 << 0;
/** a frame that holds a fragment of another frame (counted apart: it is not a packet of its own) */
export const FRAME_FLAG_IS_FRAG = 1 << 1;

/*
 * Multi-buffer frames (XDP_FLAGS_HAS_FRAGS), laid out as the kernel lays
 * them out: the head frame's skb_shared_info area (its last
 * SKB_SHARED_INFO_SIZE bytes) holds, as 32-bit words,
 *   [SI_NR_FRAGS] nr_frags  [SI_FRAGS_SIZE] xdp_frags_size
 *   [SI_FRAG + 2i] the descriptor of fragment i  [SI_FRAG + 2i + 1] its length
 * and fragment i's bytes start at offset 0 of its own frame's buffer. FM_LEN
 * is the linear part (data_end - data); the frame's length is FM_LEN +
 * xdp_frags_size (xdp_get_frame_len). Fragment frames are ordinary pool
 * frames marked FRAME_FLAG_IS_FRAG; freeing the head frees them.
 */
export const MAX_SKB_FRAGS = 17;
export const SI_NR_FRAGS = 0;
export const SI_FRAGS_SIZE = 1;
export const SI_FRAG = 2;

/*
 * Frame states. A traffic generator (src/cpu/wiregen.ts) keeps its frames
 * out of the home's cache while it runs, as the kernel's live-frame test
 * run keeps its pages in its own page_pool: its frames are FS_GEN while in
 * flight, and free() parks them (FS_GEN_PARKED) for the generator to resend
 * instead of caching them. A remote free parks with a compare-and-exchange,
 * so that a generator releasing its frames (FS_GEN -> FS_USED, by its own
 * thread) and a remote free never both win.
 */
export const FS_FREE = 0;
export const FS_USED = 1;
export const FS_GEN = 2;
export const FS_GEN_PARKED = 3;

/** Structured-clonable description of the pool, posted to every worker. */
export interface FramePoolShared {
  frameSize: number;
  nframes: number;
  homes: number;
  perHome: number;
  data: SharedArrayBuffer;
  meta: SharedArrayBuffer;
  caches: SharedArrayBuffer;  /* per home: [count, stack[perHome]] */
  returns: SharedArrayBuffer[]; /* per home: MpscRing */
}

function pow2ceil(n: number): number {
  let p = 2;
  while (p < n) p *= 2;
  return p;
}

export function createFramePool(frameSize: number, perHome: number, homes: number): FramePoolShared {
  if (!Number.isInteger(frameSize) || frameSize < 1024 || frameSize > 65536 || frameSize % 64 !== 0) {
    throw new RangeError(`frameSize ${frameSize}: must be a multiple of 64 in 1024..65536`);
  }
  if (!Number.isInteger(perHome) || perHome < 64) throw new RangeError(`frames per home ${perHome}: must be >= 64`);
  const nframes = perHome * homes;
  const caches = new SharedArrayBuffer(4 * homes * (perHome + 1));
  const c = new Int32Array(caches);
  for (let h = 0; h < homes; h++) {
    const base = h * (perHome + 1);
    c[base] = perHome;
    /* stack top is the end: lowest frame indexes are handed out first */
    for (let i = 0; i < perHome; i++) c[base + 1 + i] = h * perHome + (perHome - 1 - i);
  }
  const returns: SharedArrayBuffer[] = [];
  for (let h = 0; h < homes; h++) returns.push(createRingBuffer(pow2ceil(perHome), true));
  return {
    frameSize, nframes, homes, perHome,
    data: new SharedArrayBuffer(frameSize * nframes),
    meta: new SharedArrayBuffer(4 * FM_WORDS * nframes),
    caches, returns,
  };
}

const RETURN_BATCH = 64;

/**
 * One thread's view of the pool, as home `home`. Not shareable: the batches
 * of frames going to other homes live in this object.
 */
export class FramePool {
  readonly shared: FramePoolShared;
  readonly home: number;
  readonly frameSize: number;
  readonly data: Uint8Array;
  /** the same bytes as 32-bit words (the skb_shared_info of multi-buffer frames) */
  readonly data32: Int32Array;
  readonly meta: Int32Array;
  /** bytes of data the tail may reach: frameSize - SKB_SHARED_INFO_SIZE */
  readonly hardEnd: number;
  readonly maxLinearLen: number;
  private readonly cache: Int32Array;
  private readonly cacheBase: number;
  private readonly ownReturn: MpscRing;
  private readonly returnRings: MpscRing[];
  private readonly pending: Int32Array[];
  private readonly pendingCount: Int32Array;
  private readonly views: (Uint8Array | undefined)[];
  private readonly dviews: (DataView | undefined)[];
  /** frames freed with a bad descriptor or twice: a bug, counted not thrown */
  badFrees = 0;
  allocFails = 0;
  private readonly homeLo: number;
  private readonly homeHi: number;

  constructor(shared: FramePoolShared, home: number) {
    this.shared = shared;
    this.home = home;
    this.frameSize = shared.frameSize;
    this.data = new Uint8Array(shared.data);
    this.data32 = new Int32Array(shared.data);
    this.meta = new Int32Array(shared.meta);
    this.hardEnd = shared.frameSize - SKB_SHARED_INFO_SIZE;
    this.maxLinearLen = this.hardEnd - XDP_PACKET_HEADROOM;
    this.cache = new Int32Array(shared.caches);
    this.cacheBase = home * (shared.perHome + 1);
    this.homeLo = home * shared.perHome;
    this.homeHi = this.homeLo + shared.perHome;
    this.returnRings = shared.returns.map((b) => new MpscRing(b));
    this.ownReturn = this.returnRings[home]!;
    this.pending = shared.returns.map(() => new Int32Array(RETURN_BATCH));
    this.pendingCount = new Int32Array(shared.homes);
    this.views = new Array(shared.nframes);
    this.dviews = new Array(shared.nframes);
  }

  /** A free frame of this home, reset for receive, or -1 if none is left. */
  alloc(): number {
    const c = this.cache;
    const base = this.cacheBase;
    let n = c[base]!;
    if (n === 0) {
      n = this.reclaim();
      if (n === 0) {
        this.allocFails++;
        return -1;
      }
    }
    const fd = c[base + n]!;
    c[base] = n - 1;
    const m = fd * FM_WORDS;
    const meta = this.meta;
    meta[m + FM_DATA] = XDP_PACKET_HEADROOM;
    meta[m + FM_LEN] = 0;
    meta[m + FM_METASIZE] = 0;
    meta[m + FM_FLAGS] = 0;
    meta[m + FM_INGRESS] = 0;
    meta[m + FM_RXQ] = 0;
    meta[m + FM_STATE] = FS_USED;
    meta[m + FM_AUX] = 0;
    return fd;
  }

  /** Give a frame this thread holds (state already FS_FREE) back to its home's cache: home frames only. */
  pushFree(fd: number): void {
    const c = this.cache;
    const n = c[this.cacheBase]! + 1;
    c[this.cacheBase + n] = fd;
    c[this.cacheBase] = n;
  }

  /** Move frames from this home's return ring into its cache; returns the cache count. */
  reclaim(): number {
    const c = this.cache;
    const base = this.cacheBase;
    const n = c[base]!;
    const got = this.ownReturn.consume(c.subarray(base + 1 + n), this.shared.perHome - n);
    c[base] = n + got;
    return n + got;
  }

  /** xdp_return_frame(): any thread, any frame. */
  free(fd: number): void {
    const meta = this.meta;
    const m = fd * FM_WORDS;
    if (!(fd >= 0 && fd < this.shared.nframes)) {
      this.badFrees++;
      return;
    }
    /* this home's range first: no division for the common case */
    const h = fd >= this.homeLo && fd < this.homeHi ? this.home : (fd / this.shared.perHome) | 0;
    const st = meta[m + FM_STATE]!;
    if (st !== FS_USED) {
      if (st !== FS_GEN) {
        this.badFrees++;
        return;
      }
      /* a generator's frame: parked for its generator (the home thread) */
      if (h === this.home) {
        meta[m + FM_STATE] = FS_GEN_PARKED;
        return;
      }
      if (Atomics.compareExchange(meta, m + FM_STATE, FS_GEN, FS_GEN_PARKED) === FS_GEN) return;
      /* the generator released it meanwhile (FS_USED): an ordinary frame now */
    }
    if ((meta[m + FM_FLAGS]! & FRAME_FLAG_HAS_FRAGS) !== 0) this.freeFrags(fd);
    meta[m + FM_STATE] = FS_FREE;
    if (h === this.home) {
      const c = this.cache;
      const n = c[this.cacheBase]! + 1;
      c[this.cacheBase + n] = fd;
      c[this.cacheBase] = n;
      return;
    }
    const k = this.pendingCount[h]!;
    this.pending[h]![k] = fd;
    if (k + 1 === RETURN_BATCH) this.flushHome(h, RETURN_BATCH);
    else this.pendingCount[h] = k + 1;
  }

  /** Free the fragments of multi-buffer frame fd and make it linear (xdp_return_frame frees each frag's page, then the head). */
  freeFrags(fd: number): void {
    /* as xdp_return_frame(): the shared info is only read when the frame says it has fragments */
    if ((this.meta[fd * FM_WORDS + FM_FLAGS]! & FRAME_FLAG_HAS_FRAGS) === 0) return;
    const si = this.sinfo(fd);
    const d = this.data32;
    const n = d[si + SI_NR_FRAGS]!;
    d[si + SI_NR_FRAGS] = 0;
    d[si + SI_FRAGS_SIZE] = 0;
    for (let i = 0; i < n && i < MAX_SKB_FRAGS; i++) this.free(d[si + SI_FRAG + 2 * i]!);
    this.meta[fd * FM_WORDS + FM_FLAGS] &= ~FRAME_FLAG_HAS_FRAGS;
  }

  /** Word index (in data32) of frame fd's skb_shared_info. */
  sinfo(fd: number): number {
    return (fd * this.frameSize + this.hardEnd) >> 2;
  }

  /** xdp_get_frame_len(): the linear part plus the fragments. */
  frameLen(fd: number): number {
    const m = fd * FM_WORDS;
    const len = this.meta[m + FM_LEN]!;
    if ((this.meta[m + FM_FLAGS]! & FRAME_FLAG_HAS_FRAGS) === 0) return len;
    return len + this.data32[this.sinfo(fd) + SI_FRAGS_SIZE]!;
  }

  /** Fragment i of frame fd: its descriptor, and its length. */
  fragFd(fd: number, i: number): number {
    return this.data32[this.sinfo(fd) + SI_FRAG + 2 * i]!;
  }
  fragLen(fd: number, i: number): number {
    return this.data32[this.sinfo(fd) + SI_FRAG + 2 * i + 1]!;
  }
  nrFrags(fd: number): number {
    return (this.meta[fd * FM_WORDS + FM_FLAGS]! & FRAME_FLAG_HAS_FRAGS) === 0 ? 0 : this.data32[this.sinfo(fd) + SI_NR_FRAGS]!;
  }

  /**
   * Make fd a multi-buffer frame with fragments frags[0..n) of the given
   * lengths (frames this thread holds; they are marked IS_FRAG). n = 0
   * makes it linear again.
   */
  setFrags(fd: number, frags: Int32Array, lens: Int32Array, n: number): void {
    const si = this.sinfo(fd);
    const d = this.data32;
    const meta = this.meta;
    let size = 0;
    for (let i = 0; i < n; i++) {
      d[si + SI_FRAG + 2 * i] = frags[i]!;
      d[si + SI_FRAG + 2 * i + 1] = lens[i]!;
      meta[frags[i]! * FM_WORDS + FM_FLAGS] = FRAME_FLAG_IS_FRAG;
      size += lens[i]!;
    }
    d[si + SI_NR_FRAGS] = n;
    d[si + SI_FRAGS_SIZE] = size;
    const m = fd * FM_WORDS + FM_FLAGS;
    meta[m] = n > 0 ? meta[m]! | FRAME_FLAG_HAS_FRAGS : meta[m]! & ~FRAME_FLAG_HAS_FRAGS;
  }

  /** The whole frame (linear part, then the fragments) copied into out from `at`, at most `max` bytes; returns the bytes copied. */
  copyOut(fd: number, out: Uint8Array, at: number, max: number): number {
    const m = fd * FM_WORDS;
    const data = this.data;
    const start = fd * this.frameSize + this.meta[m + FM_DATA]!;
    let len = this.meta[m + FM_LEN]!;
    if (len > max) len = max;
    for (let i = 0; i < len; i++) out[at + i] = data[start + i]!;
    let n = len;
    const nf = this.nrFrags(fd);
    for (let k = 0; k < nf && n < max; k++) {
      const f = this.fragFd(fd, k) * this.frameSize;
      let fl = this.fragLen(fd, k);
      if (fl > max - n) fl = max - n;
      for (let i = 0; i < fl; i++) out[at + n + i] = data[f + i]!;
      n += fl;
    }
    return n;
  }

  /**
   * Write packet p into frame fd at its data offset: the first `linear`
   * bytes in the frame's buffer, the rest in fragments of up to frameSize
   * bytes taken from this home (a multi-buffer frame). Returns false, with
   * the frame linear and holding nothing new, if frames ran out or more
   * than MAX_SKB_FRAGS fragments would be needed.
   */
  writePacket(fd: number, p: Uint8Array, linear: number): boolean {
    const m = fd * FM_WORDS;
    const head = p.length < linear ? p.length : linear;
    const nf = Math.ceil((p.length - head) / this.frameSize);
    if (nf > MAX_SKB_FRAGS) return false;
    const frags = new Int32Array(nf);
    const lens = new Int32Array(nf);
    for (let i = 0; i < nf; i++) {
      const f = this.alloc();
      if (f < 0) {
        for (let k = 0; k < i; k++) this.free(frags[k]!);
        return false;
      }
      frags[i] = f;
      const from = head + i * this.frameSize;
      const to = Math.min(p.length, from + this.frameSize);
      this.data.set(p.subarray(from, to), f * this.frameSize);
      lens[i] = to - from;
    }
    this.data.set(p.subarray(0, head), fd * this.frameSize + this.meta[m + FM_DATA]!);
    this.meta[m + FM_LEN] = head;
    this.setFrags(fd, frags, lens, nf);
    return true;
  }

  private flushHome(h: number, k: number): void {
    /* the ring holds a whole home's frames: it cannot refuse */
    this.returnRings[h]!.produce(this.pending[h]!, 0, k);
    this.pendingCount[h] = 0;
  }

  /** Push batched remote frees to their homes (end of a NAPI poll, and before sleeping). */
  flushReturns(): void {
    const pc = this.pendingCount;
    for (let h = 0; h < pc.length; h++) if (pc[h]! > 0) this.flushHome(h, pc[h]!);
  }

  /** A byte view of frame fd's whole buffer (created once per frame per thread). */
  view(fd: number): Uint8Array {
    let v = this.views[fd];
    if (v === undefined) {
      v = new Uint8Array(this.shared.data, fd * this.frameSize, this.frameSize);
      this.views[fd] = v;
    }
    return v;
  }
  dataView(fd: number): DataView {
    let v = this.dviews[fd];
    if (v === undefined) {
      v = new DataView(this.shared.data, fd * this.frameSize, this.frameSize);
      this.dviews[fd] = v;
    }
    return v;
  }

  /** Byte offset of frame fd's buffer in `data`. */
  base(fd: number): number {
    return fd * this.frameSize;
  }
}

/** Free frames of every home, counted at rest (after the workers have stopped). */
export function countFreeFrames(shared: FramePoolShared): number {
  const c = new Int32Array(shared.caches);
  let free = 0;
  for (let h = 0; h < shared.homes; h++) {
    free += c[h * (shared.perHome + 1)]!;
    free += new MpscRing(shared.returns[h]!).count();
  }
  return free + countParkedFrames(shared);
}

/** Frames marked in use (FM_STATE) that are packets (heads), counted at rest. */
export function countFramesInUse(shared: FramePoolShared): number {
  const meta = new Int32Array(shared.meta);
  let n = 0;
  for (let i = 0; i < shared.nframes; i++) {
    const st = meta[i * FM_WORDS + FM_STATE];
    if ((st === FS_USED || st === FS_GEN) && (meta[i * FM_WORDS + FM_FLAGS]! & FRAME_FLAG_IS_FRAG) === 0) n++;
  }
  return n;
}

/** Frames in use as fragments of multi-buffer frames, counted at rest. */
export function countFragFramesInUse(shared: FramePoolShared): number {
  const meta = new Int32Array(shared.meta);
  let n = 0;
  for (let i = 0; i < shared.nframes; i++) {
    const st = meta[i * FM_WORDS + FM_STATE];
    if ((st === FS_USED || st === FS_GEN) && (meta[i * FM_WORDS + FM_FLAGS]! & FRAME_FLAG_IS_FRAG) !== 0) n++;
  }
  return n;
}

/** Generator frames parked (free, held by a running generator), counted at rest. */
export function countParkedFrames(shared: FramePoolShared): number {
  const meta = new Int32Array(shared.meta);
  let n = 0;
  for (let i = 0; i < shared.nframes; i++) if (meta[i * FM_WORDS + FM_STATE] === FS_GEN_PARKED) n++;
  return n;
}

