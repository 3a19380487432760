/*
 * The run-time side of a translated BPF program (translate.ts): its
 * registers' memory regions and the checks on them, the 512-byte stack
 * frames, the 64-bit arithmetic that does not fit inline, atomics, and the
 * helper calls, which map onto the TypeScript helpers (src/cpu/helpers.ts)
 * so that a BPF program and a TypeScript program get the same semantics.
 *
 * A pointer is a 64-bit value whose high half tags its region (CTX_HI,
 * PKT_HI, STK_HI, MV_HI, MVRO_HI, MAP_HI) and whose low half is an offset:
 * into the frame's buffer (the packet: valid from data_meta to data_end),
 * into this Vm's stack, into a map value (the MapValue travels with the
 * register), or the index of a map of the object. A load or store outside
 * its region, through a NULL or non-pointer, or a store to a read-only map
 * throws a BpfRuntimeError before touching memory: the CPU turns it into
 * XDP_ABORTED and an xdp_exception, as for a TypeScript program that throws.
 *
 * Concurrency contract: a Vm belongs to one program on one CPU worker, and
 * runs one frame at a time (the CPU's XdpMd); its stack and scratch buffers
 * are that CPU's. Map memory is shared with every thread under the maps'
 * own rules; atomics on map values are real Atomics on the shared buffer.
 */
import type { MapDef, XdpMd } from '../cpu/program.ts';
import {
  bpfCsumDiff, bpfGetPrandomU32, bpfGetSmpProcessorId, bpfKtimeGetNs, bpfMapDeleteElem, bpfMapLookupElem,
  bpfMapUpdateElem, bpfRedirect, bpfRedirectMap, bpfTracePrintk, bpfXdpAdjustHead, bpfXdpAdjustMeta, bpfXdpAdjustTail,
  bpfXdpGetBuffLen, bpfXdpLoadBytes, bpfXdpStoreBytes,
} from '../cpu/helpers.ts';
import type { MapValue } from '../maps/value.ts';
import { BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY } from '../shared/uapi.ts';
import {
  BPF_ADD, BPF_AND, BPF_FETCH, BPF_OR, BPF_XCHG, BPF_XOR, MAX_BPF_STACK,
} from './insn.ts';
import { CTX_HI, MAP_HI, MAX_RUN_INSNS, MV_HI, MVRO_HI, PKT_HI, STACK_SIZE, STK_HI } from './translate.ts';
import { runLimit, type XdpProgFn } from '../cpu/program.ts';

export class BpfRuntimeError extends Error {}

const EMPTY_DV = new DataView(new ArrayBuffer(0));
const XDP_MD_FIELDS = ['data', 'data_end', 'data_meta', 'ingress_ifindex', 'rx_queue_index', 'egress_ifindex'] as const;
const TWO32 = 4294967296;

const big = (h: number, l: number): bigint => (BigInt(h) << 32n) | BigInt(l >>> 0);

export class Vm {
  /* ---- per frame ---- */
  ctx: XdpMd = null as unknown as XdpMd;
  /** the frame's buffer and the packet's bounds [pm, pe); pe = 0 until the program loads a packet pointer */
  pdv: DataView = EMPTY_DV;
  pm = 0;
  pe = 0;
  /** the instructions charged to this run, over its whole call chain (translate.ts MAX_RUN_INSNS) */
  bj = 0;
  /** second results: the high half of a 64-bit result, and the map value of a pointer result */
  mh = 0;
  mo: MapValue | null = null;
  /* ---- per CPU ---- */
  readonly stack = new Uint8Array(STACK_SIZE);
  readonly sdv = new DataView(this.stack.buffer);
  /** the map value of each 8-byte stack slot holding a spilled map-value pointer */
  readonly so: (MapValue | null)[] = new Array<MapValue | null>(STACK_SIZE / 8).fill(null);
  /** per map: the high half and value of a direct value pointer (global data), for ld_imm64 */
  readonly gh: number[];
  readonly gv: (MapValue | null)[];
  private readonly ro: boolean[];
  private readonly keyBufs: Uint8Array[];
  private readonly valBufs: Uint8Array[];
  private atomBuf: ArrayBufferLike | null = null;
  private atom32: Int32Array = new Int32Array(0);
  private atom64: BigInt64Array = new BigInt64Array(0);

  constructor(readonly progName: string, readonly origin: string[], readonly maps: MapDef[]) {
    this.gh = maps.map((m) => (m._map !== null && m.spec.type === BPF_MAP_TYPE_ARRAY ? (this.isRo(m) ? MVRO_HI : MV_HI) : 0));
    this.gv = maps.map((m) => (m._map !== null && m.spec.type === BPF_MAP_TYPE_ARRAY ? m._map.lookupElem(0, 0) : null));
    this.ro = maps.map((m) => this.isRo(m));
    this.keyBufs = maps.map((m) => new Uint8Array(m.spec.keySize));
    this.valBufs = maps.map((m) => new Uint8Array(m.spec.valueSize));
  }

  private isRo(m: MapDef): boolean {
    return ((m._map?.shared.mapFlags ?? m.spec.mapFlags ?? 0) & BPF_F_RDONLY_PROG) !== 0;
  }

  /** Build the program's function from translate()'s source. */
  build(src: string): XdpProgFn {
    /* eslint-disable-next-line @typescript-eslint/no-implied-eval */
    return (new Function('S', src) as (s: Vm) => XdpProgFn)(this);
  }

  /** The packet's bounds and buffer, at the first load of a packet pointer and after a helper moved them. */
  pkt(): void {
    const c = this.ctx;
    this.pdv = c.dv;
    this.pm = c.data_meta;
    this.pe = c.data_end;
  }

  /* ---------------- errors ---------------- */

  private err(pc: number, msg: string): BpfRuntimeError {
    return new BpfRuntimeError(`${this.progName}: instruction ${pc} (${this.origin[pc] ?? '?'}): ${msg}`);
  }

  /** The error of a bad access of n bytes at (h:l)+off. */
  oob(pc: number, store: boolean, h: number, l: number, o: MapValue | null, off: number, n: number): BpfRuntimeError {
    const a = (l + off) | 0;
    const what = `${store ? 'write' : 'read'} of ${n} byte${n === 1 ? '' : 's'}`;
    switch (h) {
      case PKT_HI: {
        const d = this.ctx.data;
        if (this.pe === 0) return this.err(pc, `${what} through a packet pointer that was not loaded in this run`);
        return this.err(pc, `${what} at packet offset ${a - d} is out of bounds (the packet is data_meta..data_end = ${this.pm - d}..${this.pe - d})`);
      }
      case STK_HI:
        return this.err(pc, `${what} at stack offset ${a - STACK_SIZE} (from the program's frame pointer) is outside the stack of this frame and its callers`);
      case MV_HI:
        return this.err(pc, `${what} at offset ${a} of a ${o?.size ?? '?'}-byte map value is out of bounds`);
      case MVRO_HI:
        return store ? this.err(pc, `${what} at offset ${a} of a map value: the map is read-only to programs (BPF_F_RDONLY_PROG)`)
          : this.err(pc, `${what} at offset ${a} of a ${o?.size ?? '?'}-byte map value is out of bounds`);
      case CTX_HI:
        return this.err(pc, store ? `${what} to the context (struct xdp_md is read-only)`
          : `${what} at context offset ${a}: struct xdp_md has u32 fields at offsets 0..20, read 4 bytes at a time${l !== 0 ? ' (and the context pointer was moved)' : ''}`);
      case MAP_HI:
        return this.err(pc, `${what} through a pointer to a map (struct bpf_map is not readable)`);
      default:
        if (h === 0 && l === 0) return this.err(pc, `${what} through a NULL pointer (offset ${off})`);
        return this.err(pc, `${what} at 0x${(h >>> 0).toString(16).padStart(8, '0')}${(l >>> 0).toString(16).padStart(8, '0')} + ${off}: not a pointer into the packet, the stack, a map value or the context`);
    }
  }

  fell(pc: number): BpfRuntimeError {
    return this.err(pc, 'execution ran past the last instruction of the function (no exit)');
  }

  spin(pc: number): BpfRuntimeError {
    runLimit.hit = true;
    return this.err(pc, `more than ${MAX_RUN_INSNS} instructions in one run (BPF_COMPLEXITY_LIMIT_INSNS): a loop that does not end, or runs longer than the verifier would have allowed`);
  }

  deep(pc: number): BpfRuntimeError {
    return this.err(pc, `call depth beyond ${STACK_SIZE / MAX_BPF_STACK} frames (MAX_CALL_FRAMES)`);
  }

  /* ---------------- generic loads and stores (region unknown at translation) ---------------- */

  private view(pc: number, store: boolean, h: number, l: number, o: MapValue | null, off: number, n: number, sb: number): DataView {
    const a = (l + off) | 0;
    switch (h) {
      case PKT_HI:
        if (a < this.pm || a > this.pe - n) throw this.oob(pc, store, h, l, o, off, n);
        return this.pdv;
      case STK_HI:
        if (a < sb || a > STACK_SIZE - n) throw this.oob(pc, store, h, l, o, off, n);
        return this.sdv;
      case MV_HI:
        if (o === null || a < 0 || a > o.size - n) throw this.oob(pc, store, h, l, o, off, n);
        return o.view;
      case MVRO_HI:
        if (store || o === null || a < 0 || a > o.size - n) throw this.oob(pc, store, h, l, o, off, n);
        return o.view;
      default:
        throw this.oob(pc, store, h, l, o, off, n);
    }
  }

  ld(pc: number, h: number, l: number, o: MapValue | null, off: number, n: number, sx: boolean, sb: number): number {
    if (h === CTX_HI) return this.ctxLoad(pc, l, off, n, sx);
    const dv = this.view(pc, false, h, l, o, off, n, sb);
    const a = (l + off) | 0;
    let v: number;
    switch (n) {
      case 1: v = sx ? dv.getInt8(a) : dv.getUint8(a); break;
      case 2: v = sx ? dv.getInt16(a, true) : dv.getUint16(a, true); break;
      case 4: v = dv.getInt32(a, true); break;
      default:
        this.mh = dv.getInt32(a + 4, true);
        this.mo = h === STK_HI && (a & 7) === 0 ? this.so[a >> 3]! : null;
        return dv.getInt32(a, true);
    }
    this.mh = sx ? v >> 31 : 0;
    return v;
  }

  private ctxLoad(pc: number, l: number, off: number, n: number, sx: boolean): number {
    const a = (l + off) | 0;
    const f = n === 4 && !sx && l === 0 && (a & 3) === 0 ? XDP_MD_FIELDS[a >> 2] : undefined;
    if (f === undefined) throw this.oob(pc, false, CTX_HI, l, null, off, n);
    if (a <= 8) {
      if (this.pe === 0) this.pkt();
      this.mh = PKT_HI;
      return this.ctx[f];
    }
    this.mh = 0;
    return this.ctx[f] | 0;
  }

  st(pc: number, h: number, l: number, o: MapValue | null, off: number, n: number, vl: number, vh: number, vo: MapValue | null, sb: number): void {
    const dv = this.view(pc, true, h, l, o, off, n, sb);
    const a = (l + off) | 0;
    switch (n) {
      case 1: dv.setUint8(a, vl); return;
      case 2: dv.setUint16(a, vl, true); return;
      case 4: dv.setInt32(a, vl, true); return;
      default:
        dv.setInt32(a, vl, true);
        dv.setInt32(a + 4, vh, true);
        if (h === STK_HI && (a & 7) === 0) this.so[a >> 3] = vo;
    }
  }

  /* n bytes of the region at (h:l) as (array, index), checked; for helpers' memory arguments */
  private span(pc: number, h: number, l: number, o: MapValue | null, n: number, sb: number, write: boolean, what: string): [Uint8Array, number] {
    if (n < 0) throw this.err(pc, `${what}: negative size ${n}`);
    switch (h) {
      case PKT_HI:
        if (l < this.pm || l > this.pe - n) break;
        return [this.ctx.pkt, l];
      case STK_HI:
        if (l < sb || l > STACK_SIZE - n) break;
        return [this.stack, l];
      case MV_HI:
        if (o === null || l < 0 || l > o.size - n) break;
        return [o.bytes, l];
      case MVRO_HI:
        if (write || o === null || l < 0 || l > o.size - n) break;
        return [o.bytes, l];
    }
    const e = this.oob(pc, write, h, l, o, 0, n);
    e.message = e.message.replace(/: (read|write) of/, `: ${what}: $1 of`);
    throw e;
  }

  /* ---------------- 64-bit arithmetic ---------------- */

  /** low 64 bits of (ah:al) * (bh:bl); the high half in mh */
  mul64(al: number, ah: number, bl: number, bh: number): number {
    const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
    const mid = a0 * b1 + a1 * b0;
    const low = a0 * b0 + (mid % 65536) * 65536;
    const high = a1 * b1 + Math.floor(mid / 65536) + Math.floor(low / TWO32);
    this.mh = (high + Math.imul(al, bh) + Math.imul(ah, bl)) | 0;
    return low | 0;
  }

  private ret64(v: bigint): number {
    this.mh = Number(BigInt.asIntN(32, v >> 32n));
    return Number(BigInt.asIntN(32, v));
  }

  udiv64(al: number, ah: number, bl: number, bh: number): number {
    if (bl === 0 && bh === 0) return this.ret64(0n);
    return this.ret64(BigInt.asUintN(64, big(ah, al)) / BigInt.asUintN(64, big(bh, bl)));
  }

  umod64(al: number, ah: number, bl: number, bh: number): number {
    if (bl === 0 && bh === 0) return this.ret64(big(ah, al));
    return this.ret64(BigInt.asUintN(64, big(ah, al)) % BigInt.asUintN(64, big(bh, bl)));
  }

  /* signed: x / 0 = 0, x % 0 = x; x / -1 = -x (LLONG_MIN / -1 = LLONG_MIN), x % -1 = 0, as the verifier patches them */
  sdiv64(al: number, ah: number, bl: number, bh: number): number {
    if (bl === 0 && bh === 0) return this.ret64(0n);
    const a = big(ah, al);
    if (bl === -1 && bh === -1) return this.ret64(-a);
    return this.ret64(a / big(bh, bl));
  }

  smod64(al: number, ah: number, bl: number, bh: number): number {
    if (bl === 0 && bh === 0) return this.ret64(big(ah, al));
    if (bl === -1 && bh === -1) return this.ret64(0n);
    return this.ret64(big(ah, al) % big(bh, bl));
  }

  sdiv32(a: number, b: number): number {
    if (b === 0) return 0;
    if (b === -1) return (-a) | 0;
    return (a / b) | 0;
  }

  smod32(a: number, b: number): number {
    if (b === 0) return a;
    if (b === -1) return 0;
    return (a % b) | 0;
  }

  /* ---------------- atomics ---------------- */

  /** BPF_ATOMIC on n (4 or 8) bytes at (h:l)+off; returns the old value (high half in mh). */
  atomic(pc: number, h: number, l: number, o: MapValue | null, off: number, n: number, op: number, vl: number, vh: number, r0l: number, r0h: number, sb: number): number {
    const a = (l + off) | 0;
    if (h === MV_HI && o !== null && a >= 0 && a <= o.size - n) {
      const abs = o.bytes.byteOffset + a;
      if (abs % n !== 0) throw this.err(pc, `misaligned ${n}-byte atomic at offset ${a} of a map value`);
      const buf = o.bytes.buffer;
      if (buf !== this.atomBuf) {
        this.atomBuf = buf;
        this.atom32 = new Int32Array(buf, 0, buf.byteLength >> 2);
        this.atom64 = new BigInt64Array(buf, 0, buf.byteLength >> 3);
      }
      if (n === 4) {
        const i = abs >> 2;
        const t = this.atom32;
        this.mh = 0;
        let old: number;
        switch (op & ~BPF_FETCH) {
          case BPF_ADD: old = Atomics.add(t, i, vl); break;
          case BPF_OR: old = Atomics.or(t, i, vl); break;
          case BPF_AND: old = Atomics.and(t, i, vl); break;
          case BPF_XOR: old = Atomics.xor(t, i, vl); break;
          case BPF_XCHG & ~BPF_FETCH: old = Atomics.exchange(t, i, vl); break;
          default: old = Atomics.compareExchange(t, i, r0l, vl); break;
        }
        return old;
      }
      const i = abs >> 3;
      const t = this.atom64;
      const v = big(vh, vl);
      let old: bigint;
      switch (op & ~BPF_FETCH) {
        case BPF_ADD: old = Atomics.add(t, i, v); break;
        case BPF_OR: old = Atomics.or(t, i, v); break;
        case BPF_AND: old = Atomics.and(t, i, v); break;
        case BPF_XOR: old = Atomics.xor(t, i, v); break;
        case BPF_XCHG & ~BPF_FETCH: old = Atomics.exchange(t, i, v); break;
        default: old = Atomics.compareExchange(t, i, big(r0h, r0l), v); break;
      }
      return this.ret64(old);
    }
    if (h === STK_HI && a >= sb && a <= STACK_SIZE - n) {
      /* the stack is this CPU's: a plain read-modify-write */
      if (a % n !== 0) throw this.err(pc, `misaligned ${n}-byte atomic at stack offset ${a - STACK_SIZE}`);
      const dv = this.sdv;
      const ol = dv.getInt32(a, true);
      const oh = n === 8 ? dv.getInt32(a + 4, true) : 0;
      let nl: number, nh: number;
      switch (op & ~BPF_FETCH) {
        case BPF_ADD: {
          const t = (ol >>> 0) + (vl >>> 0);
          nl = t | 0;
          nh = (oh + vh + (t > 0xffffffff ? 1 : 0)) | 0;
          break;
        }
        case BPF_OR: nl = ol | vl; nh = oh | vh; break;
        case BPF_AND: nl = ol & vl; nh = oh & vh; break;
        case BPF_XOR: nl = ol ^ vl; nh = oh ^ vh; break;
        case BPF_XCHG & ~BPF_FETCH: nl = vl; nh = vh; break;
        default: {
          const eq = n === 4 ? ol === r0l : ol === r0l && oh === r0h;
          nl = eq ? vl : ol;
          nh = eq ? vh : oh;
        }
      }
      dv.setInt32(a, nl, true);
      if (n === 8) dv.setInt32(a + 4, nh, true);
      this.mh = oh;
      return ol;
    }
    if (h === MVRO_HI || h === MV_HI || h === STK_HI || h === 0) throw this.oob(pc, true, h, l, o, off, n);
    throw this.err(pc, `atomic operation on ${h === PKT_HI ? 'the packet' : h === CTX_HI ? 'the context' : 'memory that is not the stack or a map value'}`);
  }

  /* ---------------- helpers ---------------- */

  private map(pc: number, h: number, l: number, arg: string): MapDef {
    const m = h === MAP_HI ? this.maps[l] : undefined;
    if (m === undefined) throw this.err(pc, `${arg} is not a pointer to a map`);
    return m;
  }

  private key(pc: number, mi: number, m: MapDef, h: number, l: number, o: MapValue | null, sb: number): number | Uint8Array {
    const ks = m.spec.keySize;
    const [u8, at] = this.span(pc, h, l, o, ks, sb, false, `key of map '${m.spec.name ?? mi}'`);
    if (ks === 4) return (u8[at]! | (u8[at + 1]! << 8) | (u8[at + 2]! << 16) | (u8[at + 3]! << 24)) >>> 0;
    const k = this.keyBufs[mi]!;
    for (let i = 0; i < ks; i++) k[i] = u8[at + i]!;
    return k;
  }

  lookup(pc: number, mh: number, ml: number, kh: number, kl: number, ko: MapValue | null, sb: number): number {
    const m = this.map(pc, mh, ml, 'R1 of bpf_map_lookup_elem');
    const v = bpfMapLookupElem(m, this.key(pc, ml, m, kh, kl, ko, sb));
    this.mo = v;
    this.mh = v === null ? 0 : this.ro[ml] ? MVRO_HI : MV_HI;
    return 0;
  }

  update(pc: number, mh: number, ml: number, kh: number, kl: number, ko: MapValue | null, vh: number, vl: number, vo: MapValue | null, fh: number, fl: number, sb: number): number {
    const m = this.map(pc, mh, ml, 'R1 of bpf_map_update_elem');
    const key = this.key(pc, ml, m, kh, kl, ko, sb);
    const vs = m.spec.valueSize;
    const [u8, at] = this.span(pc, vh, vl, vo, vs, sb, false, `value for map '${m.spec.name ?? ml}'`);
    const val = this.valBufs[ml]!;
    for (let i = 0; i < vs; i++) val[i] = u8[at + i]!;
    return bpfMapUpdateElem(m, key, val, fh === 0 ? fl >>> 0 : TWO32);
  }

  delete(pc: number, mh: number, ml: number, kh: number, kl: number, ko: MapValue | null, sb: number): number {
    const m = this.map(pc, mh, ml, 'R1 of bpf_map_delete_elem');
    return bpfMapDeleteElem(m, this.key(pc, ml, m, kh, kl, ko, sb));
  }

  ktime(): number {
    const t = bpfKtimeGetNs();
    this.mh = Math.floor(t / TWO32) | 0;
    return t >>> 0;
  }

  prandom(): number {
    return bpfGetPrandomU32() | 0;
  }

  smpId(): number {
    return bpfGetSmpProcessorId();
  }

  printk(pc: number, fh: number, fl: number, fo: MapValue | null, size: number,
    a1h: number, a1l: number, a1o: MapValue | null, a2h: number, a2l: number, a2o: MapValue | null,
    a3h: number, a3l: number, a3o: MapValue | null, sb: number): number {
    const n = size >>> 0;
    if (n === 0) return -22;
    const [u8, at] = this.span(pc, fh, fl, fo, n, sb, false, 'format of bpf_trace_printk');
    /* the format must be NUL-terminated within fmt_size */
    let end = -1;
    for (let i = 0; i < n; i++) {
      if (u8[at + i] === 0) {
        end = i;
        break;
      }
    }
    if (end < 0) return -22;
    const fmt = Buffer.from(u8.buffer, u8.byteOffset + at, end).toString('latin1');
    const regs: [number, number, MapValue | null][] = [[a1h, a1l, a1o], [a2h, a2l, a2o], [a3h, a3l, a3o]];
    const args: Array<number | bigint | string> = [];
    const re = /%([-+ 0]*)([1-9][0-9]*)?(ll|l)?([diuxXcsp%])/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(fmt)) !== null) {
      if (m[4] === '%') continue;
      const r = regs[args.length];
      if (r === undefined) {
        args.push(0);
        break;
      }
      args.push(m[4] === 's' ? this.cstring(r[0], r[1], r[2], sb) : big(r[0], r[1]));
    }
    return bpfTracePrintk(fmt, ...args);
  }

  /* a NUL-terminated string argument of %s (bpf_bprintf_prepare reads at most what is left of its 512-byte buffer) */
  private cstring(h: number, l: number, o: MapValue | null, sb: number): string {
    let u8: Uint8Array | null = null;
    let end = 0;
    if (h === PKT_HI && l >= this.pm) { u8 = this.ctx.pkt; end = this.pe; }
    else if (h === STK_HI && l >= sb) { u8 = this.stack; end = STACK_SIZE; }
    else if ((h === MV_HI || h === MVRO_HI) && o !== null && l >= 0) { u8 = o.bytes; end = o.size; }
    if (u8 === null) return '(invalid)';
    let e = l;
    while (e < end && e - l < 512 && u8[e] !== 0) e++;
    return Buffer.from(u8.buffer, u8.byteOffset + l, Math.max(0, e - l)).toString('latin1');
  }

  private isCtx(pc: number, h: number, l: number, name: string): void {
    if (h !== CTX_HI || l !== 0) throw this.err(pc, `R1 of ${name} is not the context pointer`);
  }

  adjustHead(pc: number, h: number, l: number, delta: number): number {
    this.isCtx(pc, h, l, 'bpf_xdp_adjust_head');
    const r = bpfXdpAdjustHead(this.ctx, delta);
    this.pkt();
    return r;
  }

  adjustMeta(pc: number, h: number, l: number, delta: number): number {
    this.isCtx(pc, h, l, 'bpf_xdp_adjust_meta');
    const r = bpfXdpAdjustMeta(this.ctx, delta);
    this.pkt();
    return r;
  }

  adjustTail(pc: number, h: number, l: number, delta: number): number {
    this.isCtx(pc, h, l, 'bpf_xdp_adjust_tail');
    const r = bpfXdpAdjustTail(this.ctx, delta);
    this.pkt();
    return r;
  }

  redirect(ifindex: number, fh: number, fl: number): number {
    return bpfRedirect(ifindex >>> 0, fh === 0 ? fl >>> 0 : TWO32);
  }

  redirectMap(pc: number, mh: number, ml: number, key: number, fh: number, fl: number): number {
    const m = this.map(pc, mh, ml, 'R1 of bpf_redirect_map');
    return bpfRedirectMap(m, key >>> 0, fh === 0 ? fl >>> 0 : TWO32);
  }

  buffLen(pc: number, h: number, l: number): number {
    this.isCtx(pc, h, l, 'bpf_xdp_get_buff_len');
    return bpfXdpGetBuffLen(this.ctx);
  }

  loadBytes(pc: number, h: number, l: number, offset: number, bh: number, bl: number, bo: MapValue | null, len: number, sb: number): number {
    this.isCtx(pc, h, l, 'bpf_xdp_load_bytes');
    const [u8, at] = this.span(pc, bh, bl, bo, len >>> 0, sb, true, 'buffer of bpf_xdp_load_bytes');
    return bpfXdpLoadBytes(this.ctx, offset, u8, at, len);
  }

  storeBytes(pc: number, h: number, l: number, offset: number, bh: number, bl: number, bo: MapValue | null, len: number, sb: number): number {
    this.isCtx(pc, h, l, 'bpf_xdp_store_bytes');
    const [u8, at] = this.span(pc, bh, bl, bo, len >>> 0, sb, false, 'buffer of bpf_xdp_store_bytes');
    /* a source inside the packet itself: copy it first, as memmove would */
    const src = u8 === this.ctx.pkt ? u8.slice(at, at + (len >>> 0)) : u8;
    return bpfXdpStoreBytes(this.ctx, offset, src, src === u8 ? at : 0, len);
  }

  csumDiff(pc: number, fh: number, fl: number, fo: MapValue | null, fsh: number, fsl: number,
    th: number, tl: number, to: MapValue | null, tsh: number, tsl: number, seed: number, sb: number): number {
    const fs = fsl >>> 0, ts = tsl >>> 0;
    if (((fs | ts) & 3) !== 0 || fs + ts > 512) {
      this.mh = -1;
      return -22;
    }
    let from: Uint8Array | null = null, too: Uint8Array | null = null;
    if (fs > 0) {
      const [u8, at] = this.span(pc, fh, fl, fo, fs, sb, false, 'from of bpf_csum_diff');
      from = u8.subarray(at, at + fs);
    }
    if (ts > 0) {
      const [u8, at] = this.span(pc, th, tl, to, ts, sb, false, 'to of bpf_csum_diff');
      too = u8.subarray(at, at + ts);
    }
    void fsh; void tsh;
    const r = bpfCsumDiff(from, too, seed);
    this.mh = r < 0 ? -1 : 0;
    return r | 0;
  }
}
