/*
 * Program objects, the way a libbpf object declares them: maps with
 * defineMap(), programs with xdp() and its section variants, and the
 * context a program runs on (struct xdp_md).
 *
 * A program module is imported by the control plane (to learn its maps and
 * programs) and by every CPU worker (to run them). Each thread's copy of a
 * MapDef is bound to the same shared map; program functions run only on
 * CPU workers, one frame at a time, on that CPU's single XdpMd object.
 */
import type { BpfMap, MapSpec } from '../maps/map.ts';
import type { DevMap } from '../maps/devmap.ts';

export interface MapDef {
  readonly kind: 'map';
  readonly spec: MapSpec;
  /** bound by the loader in each thread; null until the object is loaded */
  _map: BpfMap | null;
  /** the same map when it is a DEVMAP or DEVMAP_HASH (bound with _map): bpf_redirect_map's fast path */
  _devmap: DevMap | null;
}

export function defineMap(spec: MapSpec): MapDef {
  return { kind: 'map', spec: { ...spec }, _map: null, _devmap: null };
}

export type XdpSection = 'xdp' | 'xdp.frags' | 'xdp/devmap' | 'xdp/cpumap';

export type XdpProgFn = (ctx: XdpMd) => number;

export interface ProgDef {
  readonly kind: 'prog';
  readonly section: XdpSection;
  readonly fn: XdpProgFn;
}

export interface XdpMarker {
  (fn: XdpProgFn): ProgDef;
  /** SEC("xdp.frags"): the program accepts multi-buffer frames */
  frags(fn: XdpProgFn): ProgDef;
  /** SEC("xdp/devmap"): runs on frames a devmap entry transmits */
  devmap(fn: XdpProgFn): ProgDef;
  /** SEC("xdp/cpumap"): runs on the cpumap's target CPU */
  cpumap(fn: XdpProgFn): ProgDef;
}

/** SEC("xdp"): mark fn as an XDP program of the object. */
export const xdp: XdpMarker = Object.assign(
  (fn: XdpProgFn): ProgDef => ({ kind: 'prog', section: 'xdp', fn }),
  {
    frags: (fn: XdpProgFn): ProgDef => ({ kind: 'prog', section: 'xdp.frags', fn }),
    devmap: (fn: XdpProgFn): ProgDef => ({ kind: 'prog', section: 'xdp/devmap', fn }),
    cpumap: (fn: XdpProgFn): ProgDef => ({ kind: 'prog', section: 'xdp/cpumap', fn }),
  },
);

export function isMapDef(v: unknown): v is MapDef {
  return typeof v === 'object' && v !== null && (v as MapDef).kind === 'map' && '_map' in v;
}
export function isProgDef(v: unknown): v is ProgDef {
  return typeof v === 'object' && v !== null && (v as ProgDef).kind === 'prog' && typeof (v as ProgDef).fn === 'function';
}

/**
 * struct xdp_md, as a program sees it. `data`, `data_end` and `data_meta`
 * are byte offsets into `pkt`, the frame's whole buffer (offset 0 is
 * data_hard_start), so `ctx.pkt[ctx.data + 12]` is the first EtherType byte.
 * As under the verifier, a program must check `ctx.data + n <= ctx.data_end`
 * before it reads n bytes. One object per CPU, refilled for each frame: a
 * program must not keep it past its return.
 */
/*
 * Set by a BPF run that was ended at the instruction limit (src/bpf/vm.ts
 * spin()): the CPU then ends the stretch of its poll there, flushes and
 * passes a quiescent state before the next frame (see Cpu.rxFrames), so
 * that such programs hold a grace period for one run, not a poll of them.
 * One per thread: a CPU runs one program at a time.
 */
export const runLimit = { hit: false };

export class XdpMd {
  data = 0;
  data_end = 0;
  data_meta = 0;
  ingress_ifindex = 0;
  rx_queue_index = 0;
  egress_ifindex = 0;
  /** frame descriptor (xdpsim internal) */
  fd = -1;
  /**
   * Where pkt and dv come from on a CPU (the frame pool): they are looked up
   * when a program asks for them, so a program that does not read the
   * packet does not pay for them. Off a CPU (tests), set pkt and dv directly.
   */
  src: { view(fd: number): Uint8Array; dataView(fd: number): DataView } | null = null;
  private ownPkt: Uint8Array = new Uint8Array(0);
  private ownDv: DataView = new DataView(new ArrayBuffer(0));
  /** the frame's buffer (frameSize bytes, aliasing shared memory) */
  get pkt(): Uint8Array {
    return this.src !== null ? this.src.view(this.fd) : this.ownPkt;
  }
  set pkt(v: Uint8Array) {
    this.ownPkt = v;
  }
  /** a DataView over the same buffer, for multi-byte fields (network order: pass false) */
  get dv(): DataView {
    return this.src !== null ? this.src.dataView(this.fd) : this.ownDv;
  }
  set dv(v: DataView) {
    this.ownDv = v;
  }
  /** bytes in the buffer: frame_sz */
  frame_sz = 0;
  /** the first byte the tail may not reach (frame_sz - skb_shared_info) */
  hard_end = 0;

  /** Bytes between data and data_end. */
  get len(): number {
    return this.data_end - this.data;
  }
}
