/*
 * The device registry: the control plane's side of net devices (the
 * kernel's rtnetlink and dev_change_xdp_fd). Main thread only: it is the
 * single writer of the shared device and RX queue tables (Atomics.store,
 * XDP program swaps with Atomics.compareExchange), so CPUs read them
 * without locks.
 *
 * ifindex 1 is `lo`; new devices take the next free index, counting up as
 * the kernel's dev_new_index does. Each RX queue is bound to one CPU: the
 * CPU whose NAPI polls it.
 */
import {
  DK_LOOPBACK, DK_SINK, DK_VETH, DS_REGISTERED, DS_UP, DT_FEATURES, DT_HARD_HEADER_LEN, DT_KIND,
  DT_MTU, DT_NRXQ, DT_PEER, DT_PROG, DT_RXQ_BASE, DT_STATE, DT_TAP, DT_CAP, DT_CAPLEN, DT_FWD_MAXLEN, DT_WORDS, G_RXQ_GEN, RQ_CPU,
  RQ_IFINDEX, RQ_INDEX, RQ_SIZE, RQ_WORDS, rxRingStride, type SharedState,
} from '../shared/layout.ts';
import { EBUSY, EEXIST, EINVAL, ENODEV, ENOSPC, XdpsimError } from '../shared/errno.ts';
import {
  ETH_HLEN, VLAN_HLEN, NETDEV_XDP_ACT_BASIC, NETDEV_XDP_ACT_NDO_XMIT, NETDEV_XDP_ACT_NDO_XMIT_SG,
  NETDEV_XDP_ACT_REDIRECT, NETDEV_XDP_ACT_RX_SG, XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_REPLACE,
  XDP_FLAGS_SKB_MODE, XDP_FLAGS_UPDATE_IF_NOEXIST,
} from '../shared/uapi.ts';

/** VETH_RING_SIZE: slots of a veth RX ring (drivers/net/veth.c). */
export const VETH_RING_SIZE = 256;
export const ETH_MIN_MTU = 68;
export const ETH_MAX_MTU = 65535;
const IFNAMSIZ = 16;

export interface DeviceInfo {
  ifindex: number;
  name: string;
  kind: 'loopback' | 'veth' | 'sink';
  peer: number;
  /** global RX queue index of each of the device's queues */
  rxq: number[];
}

export interface RxQueueOptions {
  /** number of RX queues (default 1, as veth's real_num_rx_queues) */
  rxQueues?: number;
  /** CPU of each RX queue (default: queue i on CPU (i + offset) % cpus) */
  cpus?: number[];
  /** slots of each RX ring (a power of two; default VETH_RING_SIZE) */
  ringSize?: number;
}

export interface DeviceOptions extends RxQueueOptions {
  mtu?: number;
  /** sinks only: the xdp_features to advertise (NETDEV_XDP_ACT_*; default BASIC|REDIRECT|NDO_XMIT|NDO_XMIT_SG) */
  xdpFeatures?: number;
  /** bring the device up at creation (default true) */
  up?: boolean;
}

const XDP_FLAGS_MODES = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE;
const XDP_FLAGS_MASK = XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_MODES | XDP_FLAGS_REPLACE;

export class DeviceRegistry {
  private readonly devtab: Int32Array;
  private readonly rxqtab: Int32Array;
  private readonly global: Int32Array;
  private readonly rings: Int32Array;
  private readonly stride: number;
  private readonly byName = new Map<string, DeviceInfo>();
  private readonly byIndex = new Map<number, DeviceInfo>();
  private nextIfindex = 1;
  private nextQueueCpu = 0;

  constructor(private readonly shared: SharedState) {
    this.devtab = new Int32Array(shared.devtab);
    this.rxqtab = new Int32Array(shared.rxqtab);
    this.global = new Int32Array(shared.global);
    this.rings = new Int32Array(shared.rxrings);
    this.stride = rxRingStride(shared.limits);
  }

  get cpus(): number {
    return this.shared.limits.cpus;
  }

  list(): DeviceInfo[] {
    return [...this.byIndex.values()];
  }

  /** Look a device up by name or ifindex; throws ENODEV. */
  get(dev: string | number): DeviceInfo {
    const d = typeof dev === 'number' ? this.byIndex.get(dev) : this.byName.get(dev);
    if (d === undefined) throw new XdpsimError(ENODEV, `no device ${typeof dev === 'number' ? `with ifindex ${dev}` : `named '${dev}'`}`);
    return d;
  }

  word(ifindex: number, w: number): number {
    return Atomics.load(this.devtab, ifindex * DT_WORDS + w);
  }
  private setWord(ifindex: number, w: number, v: number): void {
    const t = this.devtab;
    const d = ifindex * DT_WORDS;
    Atomics.store(t, d + w, v);
    if (w === DT_STATE || w === DT_MTU || w === DT_FEATURES || w === DT_HARD_HEADER_LEN) {
      const ok = (t[d + DT_STATE]! & (DS_REGISTERED | DS_UP)) === (DS_REGISTERED | DS_UP) && (t[d + DT_FEATURES]! & NETDEV_XDP_ACT_NDO_XMIT) !== 0;
      Atomics.store(t, d + DT_FWD_MAXLEN, ok ? t[d + DT_MTU]! + t[d + DT_HARD_HEADER_LEN]! + VLAN_HLEN : -1);
    }
  }

  private checkName(name: string): void {
    if (typeof name !== 'string' || name.length === 0 || name.length >= IFNAMSIZ || /[\s/:]/.test(name)) {
      throw new XdpsimError(EINVAL, `device name '${name}': 1..15 characters, no space, '/' or ':'`);
    }
    if (this.byName.has(name)) throw new XdpsimError(EEXIST, `a device named '${name}' exists (ifindex ${this.byName.get(name)!.ifindex})`);
  }

  private checkMtu(mtu: number, name: string): void {
    if (!Number.isInteger(mtu) || mtu < ETH_MIN_MTU || mtu > ETH_MAX_MTU) {
      throw new XdpsimError(EINVAL, `device '${name}': mtu ${mtu} outside ${ETH_MIN_MTU}..${ETH_MAX_MTU}`);
    }
  }

  /** ifindexes not given out yet (they are never reused) */
  ifindexesLeft(): number {
    return this.shared.limits.maxDevices - this.nextIfindex;
  }

  private allocIfindex(name: string): number {
    if (this.nextIfindex >= this.shared.limits.maxDevices) {
      throw new XdpsimError(ENOSPC, `device '${name}': all ${this.shared.limits.maxDevices - 1} ifindexes are used (raise maxDevices)`);
    }
    return this.nextIfindex++;
  }

  private queueCpus(name: string, o: RxQueueOptions): number[] {
    const n = o.rxQueues ?? (o.cpus ? o.cpus.length : 1);
    if (!Number.isInteger(n) || n < 0 || n > 64) throw new XdpsimError(EINVAL, `device '${name}': rxQueues ${n} outside 0..64`);
    if (o.cpus !== undefined) {
      if (o.cpus.length !== n) throw new XdpsimError(EINVAL, `device '${name}': ${o.cpus.length} cpus given for ${n} RX queues`);
      for (const c of o.cpus) {
        if (!Number.isInteger(c) || c < 0 || c >= this.cpus) throw new XdpsimError(EINVAL, `device '${name}': cpu ${c} outside 0..${this.cpus - 1}`);
      }
      return [...o.cpus];
    }
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((this.nextQueueCpu + i) % this.cpus);
    this.nextQueueCpu = (this.nextQueueCpu + n) % this.cpus;
    return out;
  }

  private checkRingSize(name: string, size: number): void {
    if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0 || size > this.shared.limits.maxRxRingSize) {
      throw new XdpsimError(EINVAL, `device '${name}': ringSize ${size} must be a power of two in 2..${this.shared.limits.maxRxRingSize}`);
    }
  }

  private allocQueues(ifindex: number, cpus: number[], ringSize: number): number[] {
    const t = this.rxqtab;
    const free: number[] = [];
    const max = this.shared.limits.maxRxQueues;
    for (let q = 0; q < max && free.length < cpus.length; q++) if (t[q * RQ_WORDS + RQ_IFINDEX] === 0) free.push(q);
    if (free.length < cpus.length) throw new XdpsimError(ENOSPC, `no room for ${cpus.length} more RX queues (maxRxQueues ${max}: raise it with Runtime.start({ maxRxQueues }))`);
    /* queues of one device must be consecutive rows: DT_RXQ_BASE + i */
    let start = -1;
    for (let q = 0; q + cpus.length <= max; q++) {
      let ok = true;
      for (let i = 0; i < cpus.length; i++) if (t[(q + i) * RQ_WORDS + RQ_IFINDEX] !== 0) { ok = false; break; }
      if (ok) { start = q; break; }
    }
    if (start < 0) throw new XdpsimError(ENOSPC, `no ${cpus.length} consecutive free RX queue rows (maxRxQueues ${max}: raise it with Runtime.start({ maxRxQueues }))`);
    const out: number[] = [];
    for (let i = 0; i < cpus.length; i++) {
      const q = start + i;
      const r = q * this.stride;
      this.rings[r] = 0;
      this.rings[r + 1] = 0;
      this.rings[r + 2] = 0; /* the producer lock */
      this.rings[r + 3] = 0; /* the producers' copy of the consumer index */
      Atomics.store(t, q * RQ_WORDS + RQ_INDEX, i);
      Atomics.store(t, q * RQ_WORDS + RQ_CPU, cpus[i]!);
      Atomics.store(t, q * RQ_WORDS + RQ_SIZE, ringSize);
      Atomics.store(t, q * RQ_WORDS + RQ_IFINDEX, ifindex);
      out.push(q);
    }
    Atomics.add(this.global, G_RXQ_GEN, 1);
    return out;
  }

  private register(name: string, kind: DeviceInfo['kind'], kcode: number, mtu: number, features: number,
    cpus: number[], ringSize: number, up: boolean): DeviceInfo {
    const ifindex = this.allocIfindex(name);
    const rxq = cpus.length > 0 ? this.allocQueues(ifindex, cpus, ringSize) : [];
    this.setWord(ifindex, DT_KIND, kcode);
    this.setWord(ifindex, DT_MTU, mtu);
    this.setWord(ifindex, DT_FEATURES, features);
    this.setWord(ifindex, DT_PEER, 0);
    this.setWord(ifindex, DT_NRXQ, rxq.length);
    this.setWord(ifindex, DT_RXQ_BASE, rxq.length > 0 ? rxq[0]! : 0);
    this.setWord(ifindex, DT_PROG, 0);
    this.setWord(ifindex, DT_TAP, 0);
    this.setWord(ifindex, DT_CAP, 0);
    this.setWord(ifindex, DT_HARD_HEADER_LEN, kcode === DK_LOOPBACK ? 0 : ETH_HLEN);
    this.setWord(ifindex, DT_STATE, DS_REGISTERED | (up ? DS_UP : 0));
    const d: DeviceInfo = { ifindex, name, kind, peer: 0, rxq };
    this.byName.set(name, d);
    this.byIndex.set(ifindex, d);
    return d;
  }

  /** `lo`, ifindex 1: one RX queue on CPU 0, generic XDP only (no xdp_features). */
  createLoopback(): DeviceInfo {
    return this.register('lo', 'loopback', DK_LOOPBACK, 65536, 0, [0], VETH_RING_SIZE, true);
  }

  /** A veth pair; returns both ends. Options apply to both unless `peer` options are given. */
  createVeth(name: string, peerName: string, o: DeviceOptions = {}, po: DeviceOptions = o): [DeviceInfo, DeviceInfo] {
    this.checkName(name);
    if (peerName === name) throw new XdpsimError(EEXIST, `veth peer name '${peerName}' equals the device name`);
    this.checkName(peerName);
    const mtu = o.mtu ?? 1500;
    const pmtu = po.mtu ?? 1500;
    this.checkMtu(mtu, name);
    this.checkMtu(pmtu, peerName);
    const ringA = o.ringSize ?? VETH_RING_SIZE;
    const ringB = po.ringSize ?? VETH_RING_SIZE;
    this.checkRingSize(name, ringA);
    this.checkRingSize(peerName, ringB);
    const cpusA = this.queueCpus(name, o);
    const cpusB = this.queueCpus(peerName, po);
    /* NDO_XMIT(_SG) appear on a veth once its peer has an XDP program */
    const features = NETDEV_XDP_ACT_BASIC | NETDEV_XDP_ACT_REDIRECT | NETDEV_XDP_ACT_RX_SG;
    const a = this.register(name, 'veth', DK_VETH, mtu, features, cpusA, ringA, o.up ?? true);
    const b = this.register(peerName, 'veth', DK_VETH, pmtu, features, cpusB, ringB, po.up ?? true);
    a.peer = b.ifindex;
    b.peer = a.ifindex;
    this.setWord(a.ifindex, DT_PEER, b.ifindex);
    this.setWord(b.ifindex, DT_PEER, a.ifindex);
    return [a, b];
  }

  /** A sink: a device whose transmit counts and frees frames. It may have RX queues too. */
  createSink(name: string, o: DeviceOptions = {}): DeviceInfo {
    this.checkName(name);
    const mtu = o.mtu ?? 1500;
    this.checkMtu(mtu, name);
    const ring = o.ringSize ?? VETH_RING_SIZE;
    this.checkRingSize(name, ring);
    const cpus = this.queueCpus(name, { rxQueues: o.rxQueues ?? 0, ...(o.cpus ? { cpus: o.cpus } : {}) });
    const features = o.xdpFeatures ?? (NETDEV_XDP_ACT_BASIC | NETDEV_XDP_ACT_REDIRECT | NETDEV_XDP_ACT_NDO_XMIT | NETDEV_XDP_ACT_NDO_XMIT_SG);
    return this.register(name, 'sink', DK_SINK, mtu, features, cpus, ring, o.up ?? true);
  }

  setUp(dev: string | number, up: boolean): void {
    const d = this.get(dev);
    const s = this.word(d.ifindex, DT_STATE);
    this.setWord(d.ifindex, DT_STATE, up ? s | DS_UP : s & ~DS_UP);
  }

  setMtu(dev: string | number, mtu: number): void {
    const d = this.get(dev);
    this.checkMtu(mtu, d.name);
    this.setWord(d.ifindex, DT_MTU, mtu);
  }

  /**
   * First half of unregister_netdevice(): take the device's RX queues out of
   * the table (CPUs stop polling them once they see the new generation).
   * Returns the global indexes of the queues, whose rings still hold frames.
   */
  releaseQueues(dev: string | number): number[] {
    const d = this.get(dev);
    /* -1: no CPU polls the row, and no new device takes it until freeQueues() */
    for (const q of d.rxq) Atomics.store(this.rxqtab, q * RQ_WORDS + RQ_IFINDEX, -1);
    Atomics.add(this.global, G_RXQ_GEN, 1);
    return d.rxq;
  }

  /** The rows of released queues may be reused (their rings are empty now). */
  freeQueues(qs: number[]): void {
    for (const q of qs) Atomics.store(this.rxqtab, q * RQ_WORDS + RQ_IFINDEX, 0);
  }

  rxqGen(): number {
    return Atomics.load(this.global, G_RXQ_GEN);
  }

  /** Start of unregister: the device is down and no longer registered (dev_get_by_index() fails). */
  unlist(dev: string | number): void {
    const d = this.get(dev);
    this.setWord(d.ifindex, DT_STATE, 0);
  }

  /** Second half: the device is gone; its name is free, its ifindex is never given again. */
  forget(dev: string | number): void {
    const d = this.get(dev);
    this.setWord(d.ifindex, DT_PROG, 0);
    this.setWord(d.ifindex, DT_STATE, 0);
    this.byName.delete(d.name);
    this.byIndex.delete(d.ifindex);
  }

  setTap(ifindex: number, on: boolean): void {
    this.setWord(ifindex, DT_TAP, on ? 1 : 0);
  }

  /** Packet capture on a device: the points (CAP_* bits, 0 = off) and the snap length. */
  setCapture(ifindex: number, points: number, snapLen: number): void {
    /* a CPU reads the points, then the length: set the length first, and never clear it (a poll may still be copying) */
    if (points !== 0) this.setWord(ifindex, DT_CAPLEN, snapLen);
    this.setWord(ifindex, DT_CAP, points);
  }

  /*
   * dev_xdp_attach(): install program `progId` (0 detaches) with an atomic
   * swap. XDP_FLAGS_UPDATE_IF_NOEXIST fails with -EBUSY if a program is
   * attached; XDP_FLAGS_REPLACE swaps only if the attached program is
   * `expectedId` (-EEXIST otherwise), with a compare-and-exchange, so two
   * racing replacers cannot both win. Returns the id that was replaced.
   */
  attachXdp(dev: string | number, progId: number, flags = 0, expectedId?: number): number {
    const d = this.get(dev);
    if ((flags & ~XDP_FLAGS_MASK) !== 0) throw new XdpsimError(EINVAL, `attach to '${d.name}': unknown XDP flags 0x${(flags & ~XDP_FLAGS_MASK).toString(16)}`);
    const modes = flags & XDP_FLAGS_MODES;
    if (modes !== 0 && (modes & (modes - 1)) !== 0) throw new XdpsimError(EINVAL, `attach to '${d.name}': more than one XDP mode flag`);
    if ((flags & XDP_FLAGS_HW_MODE) !== 0) throw new XdpsimError(EINVAL, `attach to '${d.name}': XDP_FLAGS_HW_MODE (offload) is not modelled`);
    if ((flags & XDP_FLAGS_REPLACE) !== 0 && expectedId === undefined) {
      throw new XdpsimError(EINVAL, `attach to '${d.name}': XDP_FLAGS_REPLACE needs the expected program`);
    }
    /* rtnetlink reads IFLA_XDP_EXPECTED_FD only with XDP_FLAGS_REPLACE: without it, it is ignored */
    const w = d.ifindex * DT_WORDS + DT_PROG;
    let old: number;
    if ((flags & XDP_FLAGS_REPLACE) !== 0) {
      const cur = Atomics.load(this.devtab, w);
      if (cur !== expectedId) throw new XdpsimError(EEXIST, `attach to '${d.name}': attached program is ${cur === 0 ? 'none' : `id ${cur}`}, not the expected ${expectedId === 0 ? 'none' : `id ${expectedId}`}`);
      /* dev_xdp_attach() checks UPDATE_IF_NOEXIST after the expected program */
      if ((flags & XDP_FLAGS_UPDATE_IF_NOEXIST) !== 0 && cur !== 0 && progId !== 0) {
        throw new XdpsimError(EBUSY, `attach to '${d.name}': program id ${cur} is attached and XDP_FLAGS_UPDATE_IF_NOEXIST is set`);
      }
      old = Atomics.compareExchange(this.devtab, w, expectedId!, progId);
      if (old !== expectedId) throw new XdpsimError(EEXIST, `attach to '${d.name}': attached program is ${old === 0 ? 'none' : `id ${old}`}, not the expected ${expectedId === 0 ? 'none' : `id ${expectedId}`}`);
    } else if ((flags & XDP_FLAGS_UPDATE_IF_NOEXIST) !== 0 && progId !== 0) {
      old = Atomics.compareExchange(this.devtab, w, 0, progId);
      if (old !== 0) throw new XdpsimError(EBUSY, `attach to '${d.name}': program id ${old} is attached and XDP_FLAGS_UPDATE_IF_NOEXIST is set`);
    } else {
      old = Atomics.exchange(this.devtab, w, progId);
    }
    if (d.kind === 'veth' && d.peer !== 0) this.updateVethPeerFeatures(d);
    return old;
  }

  /* veth_set_xdp_features(): the peer of a veth with an XDP program can ndo_xdp_xmit into it */
  private updateVethPeerFeatures(d: DeviceInfo): void {
    const xmit = NETDEV_XDP_ACT_NDO_XMIT | NETDEV_XDP_ACT_NDO_XMIT_SG;
    const f = this.word(d.peer, DT_FEATURES);
    this.setWord(d.peer, DT_FEATURES, this.word(d.ifindex, DT_PROG) !== 0 ? f | xmit : f & ~xmit);
  }

  isUp(ifindex: number): boolean {
    return (this.word(ifindex, DT_STATE) & DS_UP) !== 0;
  }
}
