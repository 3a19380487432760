/*
 * The traffic source: the wire side of a device's RX queues. It runs on the
 * main thread, takes frames from the pool's injector home, writes a
 * prepared packet into each and delivers them into the device's RX rings,
 * spread over the queues by a hash of the flow as RSS does, or pinned to one
 * queue. Rich load generation is a later capability; this one builds
 * UDP/IPv4 frames of one size over N flows (source port varies per flow).
 *
 * When a ring is full or the injector's frames are all in flight, the source
 * waits for the CPUs (backpressure: the frames reach the data path late but
 * all reach it), or, with `dropWhenFull`, drops the frame as a NIC with no
 * RX descriptor would (FULL_RING, counted on the device in the control
 * plane's counter block).
 */
import { FM_DATA, FM_LEN, FM_WORDS, MAX_SKB_FRAGS, type FramePool } from '../shared/frame-pool.ts';
import { DEV_INJECTED, DR_FULL_RING, countDrops, devRow } from '../shared/counters.ts';
import { ENETDOWN, EINVAL, EMSGSIZE, XdpsimError } from '../shared/errno.ts';
import { DT_MTU, DT_HARD_HEADER_LEN } from '../shared/layout.ts';
import type { NetDevices } from './netdev.ts';
import type { DeviceInfo } from './registry.ts';
import { ETH_HLEN, VLAN_HLEN } from '../shared/uapi.ts';
import { buildUdp4, flowHash, ipv4, type Udp4Spec } from './packet.ts';

export interface InjectOptions {
  /** frames to send (default 1) */
  count?: number;
  /** frame length in bytes without FCS (default 64) */
  size?: number;
  /** number of flows: source ports srcPort .. srcPort+flows-1 (default 1) */
  flows?: number;
  /** all frames to this RX queue index instead of spreading them by flow hash */
  queue?: number;
  /** drop frames that find their ring full instead of waiting (default false) */
  dropWhenFull?: boolean;
  /** a packet to send instead of the generated UDP frames */
  packet?: Uint8Array;
  /**
   * multi-buffer frames (XDP_FLAGS_HAS_FRAGS): true splits a frame longer
   * than the buffer's linear room into fragments (frames up to 17 buffers
   * long); a number N keeps N bytes linear and puts the rest in fragments
   */
  frags?: boolean | number;
  srcMac?: string; dstMac?: string; srcIp?: string; dstIp?: string; srcPort?: number; dstPort?: number;
}

export interface InjectResult {
  /** frames delivered into RX rings */
  sent: number;
  /** frames dropped because their ring was full (only with dropWhenFull) */
  dropped: number;
  /** present when the injection ended early: the device went down (or was deleted), or the runtime stopped */
  aborted?: 'device down' | 'runtime stopped';
}

const BATCH = 64;

export class TrafficSource {
  /** set by stop(): running injections free what they hold and return */
  aborted = false;

  constructor(private readonly pool: FramePool, private readonly devs: NetDevices) {}

  /**
   * Send o.count frames into `dev`. Several calls may run at once (each has
   * its own staging); all of them run on the main thread, so they share the
   * injector's frames without a lock.
   */
  async inject(dev: DeviceInfo, o: InjectOptions = {}, isUp: () => boolean): Promise<InjectResult> {
    const count = o.count ?? 1;
    const flows = o.flows ?? 1;
    const nq = dev.rxq.length;
    if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) throw new XdpsimError(EINVAL, `inject into '${dev.name}': count ${String(count)} must be an integer in 0..4294967295`);
    if (!Number.isInteger(flows) || flows < 1 || flows > 65536) throw new XdpsimError(EINVAL, `inject into '${dev.name}': flows ${flows} outside 1..65536`);
    if (nq === 0) throw new XdpsimError(EINVAL, `inject into '${dev.name}': the device has no RX queues`);
    if (o.queue !== undefined && !(Number.isInteger(o.queue) && o.queue >= 0 && o.queue < nq)) {
      throw new XdpsimError(EINVAL, `inject into '${dev.name}': queue ${o.queue} outside 0..${nq - 1}`);
    }
    for (const k of ['srcPort', 'dstPort'] as const) {
      const v = o[k];
      if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 0xffff)) throw new XdpsimError(EINVAL, `inject into '${dev.name}': ${k} ${String(v)} must be an integer in 0..65535`);
    }
    if (o.packet !== undefined && (!(o.packet instanceof Uint8Array) || o.packet.length < ETH_HLEN)) {
      throw new XdpsimError(EINVAL, `inject into '${dev.name}': packet must be a Uint8Array of at least ${ETH_HLEN} bytes (an Ethernet header)`);
    }
    if (!isUp()) throw new XdpsimError(ENETDOWN, `inject into '${dev.name}': the device is down`);

    /* one prepared packet and one RX queue per flow */
    const spec: Udp4Spec = { size: o.size ?? 64 };
    if (o.srcMac !== undefined) spec.srcMac = o.srcMac;
    if (o.dstMac !== undefined) spec.dstMac = o.dstMac;
    if (o.srcIp !== undefined) spec.srcIp = o.srcIp;
    if (o.dstIp !== undefined) spec.dstIp = o.dstIp;
    if (o.dstPort !== undefined) spec.dstPort = o.dstPort;
    const sport0 = o.srcPort ?? 1024;
    const packets: Uint8Array[] = [];
    const queueOf = new Int32Array(flows);
    const src = ipv4(spec.srcIp ?? '10.0.0.1');
    const dst = ipv4(spec.dstIp ?? '10.0.0.2');
    const dport = spec.dstPort ?? 9;
    for (let f = 0; f < flows; f++) {
      const sport = (sport0 + f) & 0xffff;
      packets.push(o.packet ?? buildUdp4({ ...spec, srcPort: sport }));
      queueOf[f] = o.queue ?? flowHash(src, dst, sport, dport, 17) % nq;
    }
    const len = packets[0]!.length;
    const linear = fragSplit(o.frags, this.pool.maxLinearLen, `inject into '${dev.name}'`);
    const mb = linear < len;
    if (len > this.pool.maxLinearLen && !mb) {
      throw new XdpsimError(EMSGSIZE, `inject into '${dev.name}': a ${len}-byte frame does not fit a ${this.pool.frameSize}-byte buffer (at most ${this.pool.maxLinearLen} after headroom and tailroom; frags: true makes it a multi-buffer frame)`);
    }
    if (mb && Math.ceil((len - linear) / this.pool.frameSize) > MAX_SKB_FRAGS) {
      throw new XdpsimError(EMSGSIZE, `inject into '${dev.name}': a ${len}-byte frame needs more than ${MAX_SKB_FRAGS} fragments`);
    }
    const maxLen = this.devs.dev(dev.ifindex, DT_MTU) + this.devs.dev(dev.ifindex, DT_HARD_HEADER_LEN) + VLAN_HLEN;
    if (len > maxLen) throw new XdpsimError(EMSGSIZE, `inject into '${dev.name}': frame of ${len} bytes exceeds mtu + headers (${maxLen})`);

    const ctr = this.devs.counters;
    const row = devRow(dev.ifindex);
    const staging = Array.from({ length: nq }, () => new Int32Array(BATCH));
    const stagingLen = new Int32Array(nq);
    const pending = (): number => stagingLen.reduce((a, b) => a + b, 0);
    let lastYield = performance.now();
    const data = this.pool.data;
    const meta = this.pool.meta;
    let sent = 0;
    let dropped = 0;
    let made = 0;
    let idleSince = 0;
    let aborted: InjectResult['aborted'];
    while (made < count || pending() > 0) {
      /* stop() under way, or the device down or being deleted: give back what is staged, say what was sent */
      if (this.aborted || !isUp()) {
        aborted = this.aborted ? 'runtime stopped' : 'device down';
        for (let qi = 0; qi < nq; qi++) for (let i = 0; i < stagingLen[qi]!; i++) this.pool.free(staging[qi]![i]!);
        break;
      }
      /* fill staging batches per queue */
      while (made < count) {
        const f = made % flows;
        const q = queueOf[f]!;
        const k = stagingLen[q]!;
        if (k === BATCH) break;
        const fd = this.pool.alloc();
        if (fd < 0) break;
        const m = fd * FM_WORDS;
        if (mb) {
          if (!this.pool.writePacket(fd, packets[f]!, linear)) {
            this.pool.free(fd);
            break;
          }
        } else {
          data.set(packets[f]!, this.pool.base(fd) + meta[m + FM_DATA]!);
          meta[m + FM_LEN] = len;
        }
        staging[q]![k] = fd;
        stagingLen[q] = k + 1;
        made++;
      }
      let progress = false;
      for (let qi = 0; qi < nq; qi++) {
        const k = stagingLen[qi]!;
        if (k === 0) continue;
        const q = dev.rxq[qi]!;
        const st = staging[qi]!;
        const got = this.devs.deliver(q, st, 0, k);
        sent += got;
        ctr[row + DEV_INJECTED] += got;
        if (got > 0) progress = true;
        if (got < k && o.dropWhenFull) {
          for (let i = got; i < k; i++) this.pool.free(st[i]!);
          const lost = k - got;
          dropped += lost;
          ctr[row + DEV_INJECTED] += lost;
          countDrops(ctr, row, DR_FULL_RING, lost);
          stagingLen[qi] = 0;
          progress = true;
        } else if (got < k) {
          st.copyWithin(0, got, k);
          stagingLen[qi] = k - got;
        } else {
          stagingLen[qi] = 0;
        }
      }
      if (!progress) {
        /*
         * rings full or no frame left: let the CPUs work, by turns of the
         * event loop for up to 2 ms (a sleeping CPU takes tens of
         * microseconds to wake and drain), then by sleeping 1 ms at a time
         */
        const now = performance.now();
        if (idleSince === 0) idleSince = now;
        if (now - idleSince < 2) await new Promise((r) => setImmediate(r));
        else await new Promise((r) => setTimeout(r, 1));
        lastYield = performance.now();
      } else {
        idleSince = 0;
        /* let timers (the trace collector, rate printers) run during a long injection */
        if (performance.now() - lastYield > 5) {
          await new Promise((r) => setImmediate(r));
          lastYield = performance.now();
        }
      }
    }
    this.pool.flushReturns();
    return aborted ? { sent, dropped, aborted } : { sent, dropped };
  }
}

/**
 * The linear part of a multi-buffer frame: `frags` true means as much as the
 * buffer holds, a number that many bytes (at least an Ethernet header);
 * absent or false, frames stay linear (Infinity).
 */
export function fragSplit(frags: boolean | number | undefined, maxLinear: number, where: string): number {
  if (frags === undefined || frags === false) return Infinity;
  if (frags === true) return maxLinear;
  if (!Number.isInteger(frags) || frags < 14 || frags > maxLinear) throw new XdpsimError(EINVAL, `${where}: frags ${frags}: the linear part must be 14..${maxLinear} bytes`);
  return frags;
}
