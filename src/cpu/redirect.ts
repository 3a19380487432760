/*
 * XDP_REDIRECT, the three steps (Documentation/bpf/redirect.rst):
 *
 *  1. bpfRedirect() / bpfRedirectMap() look the target up and store it in
 *     this CPU's RedirectInfo (struct bpf_redirect_info);
 *  2. xdpDoRedirect(), when the program returned XDP_REDIRECT, reads and
 *     clears it and enqueues the frame into this CPU's bulk queue for the
 *     target device (devmap.c bq_enqueue: DEV_MAP_BULK_SIZE frames, sent
 *     when a 17th arrives);
 *  3. devFlush(), called by xdp_do_flush() at the end of every NAPI poll,
 *     sends every bulk queue on this CPU's flush list (bq_xmit_all): the
 *     devmap entry's program runs over the bulk first, then the target's
 *     ndo_xdp_xmit; frames it did not take are freed; each send records
 *     xdp_devmap_xmit.
 *
 * Per-CPU state: a RedirectInfo and a DevBulk per CPU worker, touched only
 * by that worker. Map entries are read inside the poll (net/core/filter.c
 * __xdp_do_redirect_frame and devmap.c): the bulk queue keeps the target's
 * ifindex and the entry's program id, never the entry, so an entry may be
 * replaced and its record reused once the CPU has passed a quiescent state.
 */
import { EBADRQC, EINVAL, ENETDOWN, ENOENT, ENOMEM, EMSGSIZE, EOPNOTSUPP } from '../shared/errno.ts';
import {
  BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_XSKMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_UNSPEC,
  DEV_MAP_BULK_SIZE, NETDEV_XDP_ACT_NDO_XMIT, NETDEV_XDP_ACT_NDO_XMIT_SG, VLAN_HLEN, XDP_ABORTED, XDP_PASS,
  XDP_REDIRECT, XDP_XMIT_FLUSH,
} from '../shared/uapi.ts';
import { FM_DATA, FM_FLAGS, FM_INGRESS, FM_LEN, FM_METASIZE, FM_RXQ, FM_WORDS, FRAME_FLAG_HAS_FRAGS } from '../shared/frame-pool.ts';
import { DS_REGISTERED, DS_UP, DT_FEATURES, DT_FWD_MAXLEN, DT_HARD_HEADER_LEN, DT_MTU, DT_STATE, DT_WORDS, G_GP_DONE } from '../shared/layout.ts';
import {
  CPU_GP_VIOLATIONS, DEV_CLONES, DR_BROADCAST_EMPTY, DR_DEVMAP_PROG_ABORTED, DR_DEVMAP_PROG_DROP, DR_DEVMAP_XMIT_ERR, devRow,
} from '../shared/counters.ts';
import { TP_XDP_DEVMAP_XMIT, TP_XDP_EXCEPTION, TP_XDP_REDIRECT, TP_XDP_REDIRECT_ERR } from '../shared/trace.ts';
import { RS_DEAD, type DevMap } from '../maps/devmap.ts';
import type { CpuMap } from '../maps/cpumap.ts';
import { cpuMapEnqueue } from './cpumap.ts';
import type { Cpu } from './cpu.ts';

/** map_id of an ifindex redirect (bpf_redirect): never a real map id */
export const INT_MAX = 0x7fffffff;
const ACTION_MASK = 3; /* XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX */

/**
 * The read-side check (off unless asked for): every devmap record a CPU
 * dereferences during a round of polls is noted with its generation, and
 * validated again when the CPU reports its quiescent state:
 * it must not have been freed (poisoned) or reused meanwhile. Violations are
 * counted, never thrown. When off it costs the one `ri.check !== null` test.
 */
export class RcuCheck {
  /*
   * The readers' pipeline, as rcutorture's: how many grace periods that
   * started after a record was retired had already ended when a reader
   * still held it. 0 is the only correct age; 1, 2, 3+ are violations.
   */
  readonly pipeline = new Float64Array(4);
  private readonly global: Int32Array;
  constructor(global: Int32Array) {
    this.global = global;
  }
  private maps: (DevMap | null)[] = new Array(1024).fill(null);
  private recs = new Int32Array(1024);
  private gens = new Int32Array(1024);
  private n = 0;
  /** records noted, over the life of the check (for tests and stats) */
  checked = 0;

  note(map: DevMap, rec: number): void {
    /* a round of polls notes a few records per frame (a broadcast one per entry): grown when a round needs more (a checking run only) */
    if (this.n === this.recs.length) this.grow();
    this.maps[this.n] = map;
    this.recs[this.n] = rec;
    this.gens[this.n] = map.recGen(rec);
    this.n++;
  }

  private grow(): void {
    const n = this.recs.length * 2;
    const recs = new Int32Array(n);
    const gens = new Int32Array(n);
    recs.set(this.recs);
    gens.set(this.gens);
    this.recs = recs;
    this.gens = gens;
    this.maps = this.maps.concat(new Array(n - this.maps.length).fill(null));
  }

  /**
   * For the planted fault early-qs: the retirement number (R_RETIRED) of a
   * record noted this round, still valid, that a writer has retired since
   * and whose grace period has begun (`started`, G_GP_STARTED, is past it);
   * or -1.
   */
  heldRetired(started: number): number {
    for (let i = 0; i < this.n; i++) {
      const map = this.maps[i]!;
      const rec = this.recs[i]!;
      if (map.recState(rec) !== RS_DEAD || !map.recValid(rec, this.gens[i]!)) continue;
      const r = map.recRetired(rec);
      if (r < started) return r;
    }
    return -1;
  }

  /** Validate every noted record; returns the number of violations and forgets them. */
  validate(): number {
    let bad = 0;
    const done = Atomics.load(this.global, G_GP_DONE);
    for (let i = 0; i < this.n; i++) {
      const map = this.maps[i]!;
      const rec = this.recs[i]!;
      if (!map.recValid(rec, this.gens[i]!)) {
        bad++;
        this.pipeline[3]++;
      } else {
        let age = map.recState(rec) === RS_DEAD ? done - map.recRetired(rec) : 0;
        if (age < 0) age = 0;
        if (age > 0) bad++;
        this.pipeline[age > 3 ? 3 : age]++;
      }
      this.maps[i] = null;
    }
    this.checked += this.n;
    this.n = 0;
    return bad;
  }
}

/**
 * struct bpf_redirect_info: what the helper found, for xdp_do_redirect() to
 * use. Cleared at every quiescent state, as the kernel clears it for each
 * softirq run (bpf_net_ctx_set in net_rx_action): it never outlives the
 * round of polls it was set in.
 */
export class RedirectInfo {
  tgtIndex = 0;
  /** the devmap entry (record index), -1 for none */
  tgtValue = -1;
  /** the record's generation at lookup (checked at use: it must not have been reused) */
  tgtGen = 0;
  mapId = 0;
  mapType = BPF_MAP_TYPE_UNSPEC;
  flags = 0;
  /** the devmap of tgtValue (the kernel reaches it through the entry pointer) */
  dtab: DevMap | null = null;
  /** ri->map: set only for a broadcast */
  map: DevMap | null = null;
  /** the cpumap of tgtValue (a BPF_MAP_TYPE_CPUMAP target) */
  cmap: CpuMap | null = null;
  /** the read-side check of this CPU, when it is on */
  check: RcuCheck | null = null;

  reset(): void {
    this.tgtIndex = 0;
    this.tgtValue = -1;
    this.tgtGen = 0;
    this.mapId = 0;
    this.mapType = BPF_MAP_TYPE_UNSPEC;
    this.flags = 0;
    this.dtab = null;
    this.map = null;
    this.cmap = null;
  }
}

/*
 * bpf_xdp_redirect(): any flag is an error (XDP_ABORTED); the target is an
 * ifindex, marked by map_id INT_MAX and map type UNSPEC.
 */
export function redirectIfindex(ri: RedirectInfo, ifindex: number, flags: number): number {
  if (flags !== 0) return XDP_ABORTED;
  ri.tgtIndex = ifindex >>> 0;
  ri.mapId = INT_MAX;
  ri.mapType = BPF_MAP_TYPE_UNSPEC;
  return XDP_REDIRECT;
}

/*
 * __bpf_xdp_redirect_map() for the devmaps: unknown flag bits return
 * XDP_ABORTED; a lookup miss (without BPF_F_BROADCAST) clears the info and
 * returns the low two bits of flags; otherwise the target is stored.
 */
export function redirectDevmap(ri: RedirectInfo, map: DevMap, key: number, flags: number): number {
  if (flags !== 0 && (!Number.isInteger(flags) || flags < 0 || (flags & ~(ACTION_MASK | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)) !== 0 || flags > 0xffffffff)) {
    return XDP_ABORTED;
  }
  const rec = map.lookupRec(key >>> 0);
  ri.tgtValue = rec;
  if (rec >= 0) {
    ri.tgtGen = map.recGen(rec);
    if (ri.check !== null) ri.check.note(map, rec);
  }
  if (rec < 0 && (flags & BPF_F_BROADCAST) === 0) {
    ri.mapId = INT_MAX;
    ri.mapType = BPF_MAP_TYPE_UNSPEC;
    return flags & ACTION_MASK;
  }
  ri.tgtIndex = key >>> 0;
  ri.mapId = map.shared.id;
  ri.mapType = map.shared.type;
  ri.dtab = map;
  if ((flags & BPF_F_BROADCAST) !== 0) {
    ri.map = map;
    ri.flags = flags;
  } else {
    ri.map = null;
    ri.flags = 0;
  }
  return XDP_REDIRECT;
}

/** Per-CPU devmap bulk queues (dev->xdp_bulkq of every device) and the flush list. */
export class DevBulk {
  private readonly q: Int32Array;
  private readonly count: Int32Array;
  private readonly devRx: Int32Array;
  private readonly prog: Int32Array;
  private readonly flushList: Int32Array;
  private flushLen = 0;
  private readonly cpu: Cpu;
  /* DEV_MAP_BULK_SIZE, or less for the benchmark's ablation (RuntimeLimits.bulkSize) */
  private readonly bulk: number;

  constructor(cpu: Cpu, maxDevices: number, bulk = DEV_MAP_BULK_SIZE) {
    this.cpu = cpu;
    this.bulk = bulk;
    this.q = new Int32Array(maxDevices * DEV_MAP_BULK_SIZE);
    this.count = new Int32Array(maxDevices);
    this.devRx = new Int32Array(maxDevices);
    this.prog = new Int32Array(maxDevices);
    this.flushList = new Int32Array(maxDevices);
  }

  /* bq_enqueue(): a full queue is sent first; the first frame puts it on the flush list */
  enqueue(dev: number, fd: number, devRx: number, progId: number): void {
    let k = this.count[dev]!;
    if (k === this.bulk) {
      this.xmitAll(dev, 0);
      k = 0;
    }
    if (this.devRx[dev] === 0) {
      this.devRx[dev] = devRx;
      this.prog[dev] = progId;
      this.flushList[this.flushLen++] = dev;
    }
    this.q[dev * DEV_MAP_BULK_SIZE + k] = fd;
    this.count[dev] = k + 1;
  }

  /*
   * dev_map_enqueue_multi(): every valid entry gets the frame (n-1 clones,
   * the last entry takes the original), invalid targets are skipped
   * silently, the ingress device too with BPF_F_EXCLUDE_INGRESS; an empty
   * map frees the frame and still succeeds.
   */
  enqueueMulti(fd: number, devRx: number, map: DevMap, exclude: boolean): number {
    this.mLast = -1;
    if (!map.isHash) {
      for (let i = 0; i < map.maxEntries; i++) {
        const r = map.slotRec(i);
        if (r >= 0 && this.multiVisit(r, fd, devRx, map, exclude) !== 0) return -ENOMEM;
      }
    } else {
      for (let b = 0; b < map.nbuckets; b++) {
        for (let r = map.bucketHead(b); r >= 0; r = map.recNext(r)) {
          if (this.multiVisit(r, fd, devRx, map, exclude) !== 0) return -ENOMEM;
        }
      }
    }
    const last = this.mLast;
    if (last >= 0) this.enqueue(map.recIfindex(last), fd, devRx, map.recProg(last));
    else this.cpu.drop(fd, devRow(devRx), DR_BROADCAST_EMPTY);
    return 0;
  }

  private mLast = -1;

  private multiVisit(rec: number, fd: number, devRx: number, map: DevMap, exclude: boolean): number {
    const c = this.cpu;
    if (c.ri.check !== null) c.ri.check.note(map, rec);
    const dev = map.recIfindex(rec);
    if (xdpFwdCheck(c, dev, fd) !== 0) return 0;
    if (exclude && dev === devRx) return 0;
    const last = this.mLast;
    if (last >= 0) {
      const nfd = cloneFrame(c, fd);
      if (nfd < 0) return -ENOMEM;
      c.ctr[devRow(devRx) + DEV_CLONES]++;
      this.enqueue(map.recIfindex(last), nfd, devRx, map.recProg(last));
    }
    this.mLast = rec;
    return 0;
  }

  /** Bulk queues waiting for a flush: must be 0 whenever the CPU reports a quiescent state. */
  pending(): number {
    return this.flushLen;
  }

  /* __dev_flush(): newest on the list first, as list_add() makes it */
  flush(): void {
    for (let i = this.flushLen - 1; i >= 0; i--) {
      const dev = this.flushList[i]!;
      this.xmitAll(dev, XDP_XMIT_FLUSH);
      this.devRx[dev] = 0;
      this.prog[dev] = 0;
    }
    this.flushLen = 0;
  }

  /* bq_xmit_all() */
  private xmitAll(dev: number, flags: number): void {
    const cnt = this.count[dev]!;
    if (cnt === 0) return;
    const c = this.cpu;
    const base = dev * DEV_MAP_BULK_SIZE;
    const devRx = this.devRx[dev]!;
    let toSend = cnt;
    let sent = 0;
    let err = 0;
    const prog = this.prog[dev]!;
    if (prog !== 0) toSend = this.progRun(prog, base, cnt, dev, devRx);
    if (toSend > 0) {
      /* the capture point after the devmap program, at transmit (what xdpdump cannot see): frames the device took */
      const staged = c.stageXmit(dev, this.q, base, toSend, XDP_REDIRECT, prog);
      sent = c.devs.xdpXmit(dev, c.cpu, this.q, base, toSend, flags, true);
      c.xmitCaptured(staged, sent);
      if (sent < 0) {
        err = sent;
        sent = 0;
      }
      const row = devRow(dev);
      for (let i = sent; i < toSend; i++) c.drop(this.q[base + i]!, row, DR_DEVMAP_XMIT_ERR);
    }
    this.count[dev] = 0;
    if (c.trace.on[TP_XDP_DEVMAP_XMIT]) c.trace.emit6(TP_XDP_DEVMAP_XMIT, devRx, XDP_REDIRECT, dev, cnt - sent, sent, err);
  }

  /*
   * dev_map_bpf_prog_run(): the entry's program on each frame, with
   * egress_ifindex set; XDP_PASS keeps the frame (compacted to the front),
   * XDP_DROP frees it, anything else (XDP_ABORTED, XDP_TX, XDP_REDIRECT,
   * a bad value, a throw) is an xdp_exception on the egress device and a drop.
   */
  private progRun(progId: number, base: number, n: number, dev: number, devRx: number): number {
    const c = this.cpu;
    const row = devRow(dev);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const fd = this.q[base + i]!;
      const act = c.runProg(progId, fd, devRx, 0, dev);
      if (act === XDP_PASS) {
        this.q[base + kept++] = fd;
      } else if (act === 1 /* XDP_DROP */) {
        c.drop(fd, row, DR_DEVMAP_PROG_DROP);
      } else {
        if (c.trace.on[TP_XDP_EXCEPTION]) c.trace.emit3(TP_XDP_EXCEPTION, progId, act < 0 ? XDP_ABORTED : act, dev);
        c.drop(fd, row, DR_DEVMAP_PROG_ABORTED);
      }
    }
    return kept;
  }
}

/**
 * __xdp_enqueue(): the target must transmit XDP frames (NDO_XMIT, and
 * NDO_XMIT_SG for a frame with frags), be up (-ENETDOWN) and take the
 * frame's length (-EMSGSIZE), then the frame joins its bulk queue.
 */
export function xdpEnqueue(c: Cpu, dev: number, fd: number, devRx: number, progId: number): number {
  const err = xdpFwdCheck(c, dev, fd);
  if (err !== 0) return err;
  c.devBulk.enqueue(dev, fd, devRx, progId);
  return 0;
}

/*
 * The device words are read with plain loads, as the kernel reads
 * dev->flags and dev->mtu (READ_ONCE at most): a change made by the control
 * plane is seen by the next frames, and a device is freed only after a
 * grace period (unregister), so what a poll reads stays valid for it.
 */
function xdpFwdCheck(c: Cpu, dev: number, fd: number): number {
  if (!(dev > 0 && dev < c.devs.maxDevices)) return -EINVAL; /* cannot happen: entries hold registered devices */
  const t = c.devs.devtab;
  const d = dev * DT_WORDS;
  const m = fd * FM_WORDS;
  const meta = c.pool.meta;
  /* the common case in one word (DT_FWD_MAXLEN): a linear frame to a device that is up and transmits XDP frames */
  const maxLen = t[d + DT_FWD_MAXLEN]!;
  if (maxLen >= 0 && (meta[m + FM_FLAGS]! & FRAME_FLAG_HAS_FRAGS) === 0) return meta[m + FM_LEN]! > maxLen ? -EMSGSIZE : 0;
  const features = t[d + DT_FEATURES]!;
  if ((features & NETDEV_XDP_ACT_NDO_XMIT) === 0) return -EOPNOTSUPP;
  if ((features & NETDEV_XDP_ACT_NDO_XMIT_SG) === 0 && (meta[m + FM_FLAGS]! & FRAME_FLAG_HAS_FRAGS) !== 0) return -EOPNOTSUPP;
  /* xdp_ok_fwd_dev() */
  if ((t[d + DT_STATE]! & (DS_REGISTERED | DS_UP)) !== (DS_REGISTERED | DS_UP)) return -ENETDOWN;
  /* xdp_get_frame_len(): fragments included */
  const len = c.pool.frameLen(fd);
  if (len > t[d + DT_MTU]! + t[d + DT_HARD_HEADER_LEN]! + VLAN_HLEN) return -EMSGSIZE;
  return 0;
}

/* xdpf_clone(): a copy in a new frame of this CPU, headroom and metadata included */
function cloneFrame(c: Cpu, fd: number): number {
  const pool = c.pool;
  const nfd = pool.alloc();
  if (nfd < 0) return -1;
  const meta = pool.meta;
  const m = fd * FM_WORDS;
  const n = nfd * FM_WORDS;
  const end = meta[m + FM_DATA]! + meta[m + FM_LEN]!;
  pool.data.copyWithin(pool.base(nfd), pool.base(fd), pool.base(fd) + end);
  meta[n + FM_DATA] = meta[m + FM_DATA]!;
  meta[n + FM_LEN] = meta[m + FM_LEN]!;
  meta[n + FM_METASIZE] = meta[m + FM_METASIZE]!;
  meta[n + FM_FLAGS] = meta[m + FM_FLAGS]!;
  meta[n + FM_INGRESS] = meta[m + FM_INGRESS]!;
  meta[n + FM_RXQ] = meta[m + FM_RXQ]!;
  if ((meta[m + FM_FLAGS]! & FRAME_FLAG_HAS_FRAGS) !== 0) {
    /* a multi-buffer frame: its fragments are copied too (see the README's differences) */
    meta[n + FM_FLAGS] = 0;
    const nf = pool.nrFrags(fd);
    const frags = c.cloneFrags;
    const lens = c.cloneLens;
    for (let i = 0; i < nf; i++) {
      const f = pool.alloc();
      if (f < 0) {
        for (let k = 0; k < i; k++) pool.free(frags[k]!);
        pool.free(nfd);
        return -1;
      }
      const src = pool.fragFd(fd, i);
      lens[i] = pool.fragLen(fd, i);
      pool.data.copyWithin(pool.base(f), pool.base(src), pool.base(src) + lens[i]!);
      frags[i] = f;
    }
    pool.setFrags(nfd, frags, lens, nf);
  }
  return nfd;
}

/**
 * xdp_do_redirect() / __xdp_do_redirect_frame(): 0 when the frame was
 * queued (it now belongs to a bulk queue), or a negative errno: the caller
 * drops the frame. Records xdp_redirect or xdp_redirect_err.
 */
export function xdpDoRedirect(c: Cpu, fd: number, devRx: number, progId: number): number {
  const ri = c.ri;
  const mapType = ri.mapType;
  const fwd = ri.tgtValue;
  const mapId = ri.mapId;
  const flags = ri.flags;
  const dtab = ri.dtab;
  ri.mapId = 0;
  ri.mapType = BPF_MAP_TYPE_UNSPEC;
  ri.flags = 0;
  let err: number;
  let toIfindex = 0;
  let mapIndex = ri.tgtIndex;
  switch (mapType) {
    case BPF_MAP_TYPE_DEVMAP:
    case BPF_MAP_TYPE_DEVMAP_HASH:
      if ((flags & BPF_F_BROADCAST) !== 0) {
        const map = ri.map;
        if (map === null) {
          err = -ENOENT;
          break;
        }
        ri.map = null;
        if (fwd >= 0) toIfindex = map.recIfindex(fwd);
        err = c.devBulk.enqueueMulti(fd, devRx, map, (flags & BPF_F_EXCLUDE_INGRESS) !== 0);
      } else {
        toIfindex = dtab!.recIfindex(fwd);
        const progId2 = dtab!.recProg(fwd);
        /* the entry must be the one the helper found: nothing may reuse it within the poll */
        if (dtab!.recGen(fwd) !== ri.tgtGen) c.ctr[CPU_GP_VIOLATIONS]++;
        err = xdpEnqueue(c, toIfindex, fd, devRx, progId2);
      }
      break;
    case BPF_MAP_TYPE_CPUMAP: {
      /* cpu_map_enqueue(): xdpf->dev_rx is the receiving device (FM_INGRESS, set by the verdict) */
      const cmap = ri.cmap!;
      ri.cmap = null;
      if (cmap.recGen(fwd) !== ri.tgtGen) c.ctr[CPU_GP_VIOLATIONS]++;
      err = cpuMapEnqueue(c, cmap, fwd, fd);
      break;
    }
    case BPF_MAP_TYPE_XSKMAP:
      /* __xdp_do_redirect_xsk() -> __xsk_map_redirect() -> xsk_rcv() on the frame's device and queue */
      err = c.xsk.rcv(fwd, fd, devRx, c.pool.meta[fd * FM_WORDS + FM_RXQ]!);
      break;
    case BPF_MAP_TYPE_UNSPEC:
      if (mapId === INT_MAX) {
        /* bpf_redirect(): dev_get_by_index_rcu() */
        toIfindex = ri.tgtIndex;
        mapIndex = 0;
        const d = toIfindex;
        if (!(d > 0 && d < c.devs.maxDevices) || (c.devs.devtab[d * DT_WORDS + DT_STATE]! & DS_REGISTERED) === 0) {
          err = -EINVAL;
          break;
        }
        err = xdpEnqueue(c, d, fd, devRx, 0);
        break;
      }
      err = -EBADRQC;
      break;
    default:
      err = -EBADRQC;
  }
  const tr = c.trace;
  if (err !== 0) {
    if (tr.on[TP_XDP_REDIRECT_ERR]) tr.emit7(TP_XDP_REDIRECT_ERR, progId, XDP_REDIRECT, devRx, err, toIfindex, mapId, mapIndex);
    return err;
  }
  if (tr.on[TP_XDP_REDIRECT]) tr.emit7(TP_XDP_REDIRECT, progId, XDP_REDIRECT, devRx, 0, toIfindex, mapId, mapIndex);
  return 0;
}

