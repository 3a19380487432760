/*
 * BPF helpers for XDP programs written in TypeScript, with the kernel's
 * names (camelCase), bounds and return values (net/core/filter.c,
 * kernel/bpf/helpers.c).
 *
 * Per-thread state: `helperCpu` is the simulated CPU of the worker this
 * module instance runs in (set once at worker start; -1 on the main
 * thread). Helpers touch only the frame the calling CPU holds (through its
 * XdpMd) or shared maps under the maps' own rules.
 */
import { EACCES, EFAULT, EINVAL } from '../shared/errno.ts';
import { FramePool, XDP_FRAME_SIZE } from '../shared/frame-pool.ts';
import { ETH_HLEN } from '../shared/uapi.ts';
import type { MapValue } from '../maps/value.ts';
import type { MapKey } from '../maps/map.ts';
import type { MapDef, XdpMd } from './program.ts';
import { RedirectInfo, redirectDevmap, redirectIfindex } from './redirect.ts';
import { DevMap } from '../maps/devmap.ts';
import { CpuMap } from '../maps/cpumap.ts';
import { redirectCpumap } from './cpumap.ts';
import { XskMap } from '../maps/xskmap.ts';
import { redirectXskmap } from './xsk.ts';
import { XdpsimError } from '../shared/errno.ts';
import type { PrintkRing } from '../shared/trace.ts';

const state = {
  cpu: -1, clock: (): number => Math.round(performance.now() * 1e6), ri: new RedirectInfo(),
  printk: null as PrintkRing | null, lost: (): void => {},
};

/** Called once by the CPU worker: which CPU this thread is, its clock, its bpf_redirect_info, its printk ring. */
export function setHelperContext(cpu: number, clock: () => number, ri: RedirectInfo, printk: PrintkRing | null = null, lost: () => void = () => {}): void {
  state.cpu = cpu;
  state.clock = clock;
  state.ri = ri;
  state.printk = printk;
  state.lost = lost;
}

/*
 * bpf_trace_printk(fmt, ...args), after bpf_bprintf_prepare(): at most three
 * arguments (the helper's arity); printable ASCII and whitespace only; the
 * conversions %d %i %u %x %X (with l or ll: 64 bits, else 32), %c, %s, %p
 * (64 bits; %pK and %px alike, %pi4 and %pI4 as an IPv4 address), %%, each
 * with the flags - + space 0 and a width. Anything else is -EINVAL. Returns
 * the message's length in bytes; the message goes to this CPU's trace
 * stream ('bpf_trace_printk' records, `msg`); off a CPU (a test calling the
 * helper directly) it is only formatted. Differences: %p prints the value
 * (the kernel hashes plain %p), and an argument is a number, bigint or
 * string rather than a register.
 */
const utf8len = (s: string): number => Buffer.byteLength(s, 'utf8');

export function bpfTracePrintk(fmt: string, ...args: Array<number | bigint | string>): number {
  const out = bprintf(fmt, args);
  if (out === null) return -EINVAL;
  if (state.printk !== null && !state.printk.put(out, state.clock())) state.lost();
  return utf8len(out);
}

/** The message bpf_trace_printk would print, or null where it returns -EINVAL. */
export function bprintf(fmt: string, args: Array<number | bigint | string>): string | null {
  if (args.length > 3) return null;
  let out = '';
  let ai = 0;
  for (let i = 0; i < fmt.length; i++) {
    const ch = fmt.charCodeAt(i);
    if (ch > 0x7e || (ch < 0x20 && ch !== 0x09 && ch !== 0x0a && ch !== 0x0b && ch !== 0x0c && ch !== 0x0d)) return null;
    if (ch !== 0x25 /* % */) {
      out += fmt[i];
      continue;
    }
    const m = /^%([-+ 0]*)([1-9][0-9]*)?(ll|l)?([diuxXcsp%])(K|x|i4|I4)?/.exec(fmt.slice(i));
    if (m === null) return null;
    const flags = m[1]!;
    const lmod = m[3];
    const conv = m[4]!;
    let ext: string | undefined = m[5];
    /* an extension letter belongs to %p only: elsewhere it is the text that follows */
    if (ext !== undefined && conv !== 'p') ext = undefined;
    if (lmod !== undefined && !'diuxX'.includes(conv)) return null;
    i += m[0].length - (m[5] !== undefined && ext === undefined ? m[5].length : 0) - 1;
    if (conv === '%') {
      if (flags !== '' || m[2] !== undefined) return null;
      out += '%';
      continue;
    }
    if (ai >= args.length) return null;
    const a = args[ai++]!;
    let s: string;
    let neg = false;
    if (conv === 's') {
      if (typeof a !== 'string') return null;
      s = a;
    } else {
      if (typeof a === 'string') return null;
      const bits = lmod !== undefined || conv === 'p' ? 64 : 32;
      const n = typeof a === 'number' ? (Number.isFinite(a) ? Math.trunc(a) : 0) : a;
      let v = BigInt.asUintN(bits, BigInt(n));
      if (conv === 'd' || conv === 'i') {
        v = BigInt.asIntN(bits, v);
        if (v < 0n) {
          neg = true;
          v = -v;
        }
      }
      if (conv === 'p' && (ext === 'i4' || ext === 'I4')) {
        const x = Number(v & 0xffffffffn);
        s = `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
      } else if (conv === 'x' || conv === 'p') s = (conv === 'p' ? '0x' : '') + v.toString(16);
      else if (conv === 'X') s = v.toString(16).toUpperCase();
      else if (conv === 'c') s = String.fromCharCode(Number(v & 0xffn));
      else s = v.toString();
    }
    const numeric = conv === 'd' || conv === 'i';
    const sign = neg ? '-' : numeric && flags.includes('+') ? '+' : numeric && flags.includes(' ') ? ' ' : '';
    const width = m[2] ? Number(m[2]) : 0;
    const body = s;
    const len = sign.length + body.length;
    if (len >= width) s = sign + body;
    else if (flags.includes('-')) s = (sign + body).padEnd(width);
    else if (flags.includes('0') && conv !== 's' && conv !== 'c') s = sign + body.padStart(width - sign.length, '0');
    else s = (sign + body).padStart(width);
    out += s;
  }
  return out;
}

/*
 * The largest metadata length xdp_metalen_invalid() accepts: the maximum of
 * xdp_frame's 8-bit metasize field (255), and it must be 4-byte aligned.
 * In practice the headroom bound comes first (216 bytes with 256 of headroom).
 */
export const XDP_META_MAX = 255;

/*
 * bpf_xdp_adjust_head(): move data by `offset` (negative grows the packet at
 * the front). data may not go below the xdp_frame at the top of the
 * headroom plus the metadata, nor leave less than ETH_HLEN bytes. The
 * metadata moves with data. -EINVAL leaves the frame untouched.
 */
export function bpfXdpAdjustHead(ctx: XdpMd, offset: number): number {
  offset |= 0; /* an int in the kernel */
  const metalen = ctx.data - ctx.data_meta;
  const dataStart = XDP_FRAME_SIZE + metalen;
  const data = ctx.data + offset;
  if (data < dataStart || data > ctx.data_end - ETH_HLEN) return -EINVAL;
  if (metalen > 0) ctx.pkt.copyWithin(ctx.data_meta + offset, ctx.data_meta, ctx.data);
  ctx.data_meta += offset;
  ctx.data = data;
  return 0;
}

/*
 * bpf_xdp_adjust_tail() on a linear buffer: move data_end by `offset`. It
 * may not pass the tailroom reserved for skb_shared_info nor leave less
 * than ETH_HLEN bytes; bytes gained are zeroed.
 */
export function bpfXdpAdjustTail(ctx: XdpMd, offset: number): number {
  offset |= 0;
  const dataEnd = ctx.data_end + offset;
  if (dataEnd > ctx.hard_end) return -EINVAL;
  if (dataEnd < ctx.data + ETH_HLEN) return -EINVAL;
  if (offset > 0) ctx.pkt.fill(0, ctx.data_end, dataEnd);
  ctx.data_end = dataEnd;
  return 0;
}

/*
 * bpf_xdp_adjust_meta(): move data_meta by `offset` (negative grows the
 * metadata). It may not go below the xdp_frame nor above data (-EINVAL,
 * checked first); the resulting length must be a multiple of 4 and at most
 * 255 (-EACCES). Checked on kernel 6.18: -4, -32, -36, -216 succeed on a
 * 256-byte headroom; -220 is -EINVAL; -2, -6, -214 are -EACCES.
 */
export function bpfXdpAdjustMeta(ctx: XdpMd, offset: number): number {
  offset |= 0;
  const meta = ctx.data_meta + offset;
  if (meta < XDP_FRAME_SIZE || meta > ctx.data) return -EINVAL;
  const metalen = ctx.data - meta;
  if ((metalen & 3) !== 0 || metalen > XDP_META_MAX) return -EACCES;
  ctx.data_meta = meta;
  return 0;
}

/** bpf_ktime_get_ns(): nanoseconds since the runtime started (one clock for all CPUs). */
export function bpfKtimeGetNs(): number {
  return state.clock();
}

/** bpf_get_smp_processor_id(): the simulated CPU running the program. */
export function bpfGetSmpProcessorId(): number {
  return state.cpu;
}

function bound(map: MapDef): NonNullable<MapDef['_map']> {
  const m = map._map;
  if (m === null) throw new Error(`map used before its object was loaded (${map.spec.name ?? 'unnamed'})`);
  return m;
}

/** bpf_map_lookup_elem(): the value (this CPU's, for per-CPU maps), or null. */
export function bpfMapLookupElem(map: MapDef, key: MapKey): MapValue | null {
  return bound(map).lookupElem(key, state.cpu);
}

/** bpf_map_update_elem(): 0 or a negative errno. */
export function bpfMapUpdateElem(map: MapDef, key: MapKey, value: Uint8Array, flags: number): number {
  return bound(map).updateElem(key, value, flags, state.cpu);
}

/** bpf_map_delete_elem(): 0 or a negative errno. */
export function bpfMapDeleteElem(map: MapDef, key: MapKey): number {
  return bound(map).deleteElem(key, state.cpu);
}

/**
 * bpf_redirect(ifindex, flags) in XDP (bpf_xdp_redirect): redirect to a
 * device by ifindex. Any flag makes it return XDP_ABORTED. Whether the
 * device exists is checked by xdp_do_redirect (-EINVAL).
 */
export function bpfRedirect(ifindex: number, flags: number): number {
  return redirectIfindex(state.ri, ifindex, flags);
}

/**
 * bpf_redirect_map(map, key, flags): redirect to the map's entry at key.
 * On a lookup miss returns the low two bits of flags (XDP_ABORTED ..
 * XDP_TX); with BPF_F_BROADCAST the frame goes to every entry (the key is
 * then only looked up for the trace record), BPF_F_EXCLUDE_INGRESS skips
 * the ingress device; any other flag returns XDP_ABORTED.
 */
export function bpfRedirectMap(map: MapDef, key: number, flags: number): number {
  const dm = map._devmap;
  if (dm !== null) return redirectDevmap(state.ri, dm, key, flags);
  const m = bound(map);
  if (m instanceof DevMap) return redirectDevmap(state.ri, m, key, flags);
  if (m instanceof CpuMap) return redirectCpumap(state.ri, m, key, flags);
  if (m instanceof XskMap) return redirectXskmap(state.ri, m, key, flags);
  throw new XdpsimError(EINVAL, `bpf_redirect_map on map '${m.shared.name}': the verifier allows only DEVMAP, DEVMAP_HASH, CPUMAP and XSKMAP maps`);
}

/** bpf_get_prandom_u32(): a pseudo-random u32 (the kernel's per-CPU prandom state; here Math.random). */
export function bpfGetPrandomU32(): number {
  return (Math.random() * 4294967296) >>> 0;
}

/* the fragments of ctx's frame, when it comes from the frame pool (a frame a test built by hand has none) */
function poolOf(ctx: XdpMd): FramePool | null {
  return ctx.src instanceof FramePool ? ctx.src : null;
}

/** bpf_xdp_get_buff_len(): the linear part plus the fragments (xdp_get_buff_len). */
export function bpfXdpGetBuffLen(ctx: XdpMd): number {
  const pool = poolOf(ctx);
  let len = ctx.data_end - ctx.data;
  if (pool !== null) {
    const nf = pool.nrFrags(ctx.fd);
    for (let i = 0; i < nf; i++) len += pool.fragLen(ctx.fd, i);
  }
  return len;
}

/*
 * bpf_xdp_load_bytes() / bpf_xdp_store_bytes() (bpf_xdp_pointer(),
 * bpf_xdp_copy_buf()): copy len bytes at `offset` from data, across the
 * fragments of a multi-buffer frame. An offset or length above 0xffff is
 * -EFAULT; offset + len past the frame's length is -EINVAL; else 0.
 */
export function bpfXdpLoadBytes(ctx: XdpMd, offset: number, buf: Uint8Array, bufOff: number, len: number): number {
  return xdpCopy(ctx, offset >>> 0, buf, bufOff, len >>> 0, false);
}
export function bpfXdpStoreBytes(ctx: XdpMd, offset: number, buf: Uint8Array, bufOff: number, len: number): number {
  return xdpCopy(ctx, offset >>> 0, buf, bufOff, len >>> 0, true);
}

function xdpCopy(ctx: XdpMd, offset: number, buf: Uint8Array, bufOff: number, len: number, flush: boolean): number {
  if (offset > 0xffff || len > 0xffff) return -EFAULT;
  if (offset + len > bpfXdpGetBuffLen(ctx)) return -EINVAL;
  let done = 0;
  const copy = (area: Uint8Array, start: number, areaLen: number, from: number): void => {
    /* from: where the request is inside this area */
    const k = Math.min(areaLen - from, len - done);
    if (k <= 0) return;
    if (flush) area.set(buf.subarray(bufOff + done, bufOff + done + k), start + from);
    else buf.set(area.subarray(start + from, start + from + k), bufOff + done);
    done += k;
  };
  const headLen = ctx.data_end - ctx.data;
  let pos = offset;
  if (pos < headLen) {
    copy(ctx.pkt, ctx.data, headLen, pos);
    pos = 0;
  } else {
    pos -= headLen;
  }
  const pool = poolOf(ctx);
  if (pool !== null) {
    const nf = pool.nrFrags(ctx.fd);
    for (let i = 0; i < nf && done < len; i++) {
      const fl = pool.fragLen(ctx.fd, i);
      if (pos < fl) {
        copy(pool.view(pool.fragFd(ctx.fd, i)), 0, fl, pos);
        pos = 0;
      } else {
        pos -= fl;
      }
    }
  }
  return 0;
}

/*
 * bpf_csum_diff(from, from_size, to, to_size, seed): the 32-bit one's
 * complement sum (csum_partial) of seed, of the complement of every 32-bit
 * word of `from` and of every word of `to`. Sizes must be multiples of 4
 * and together at most 512 bytes (the per-CPU scratch area): -EINVAL
 * otherwise. Words are summed as stored (network order bytes read on a
 * little-endian machine), as the kernel does on x86.
 */
export function bpfCsumDiff(from: Uint8Array | null, to: Uint8Array | null, seed: number): number {
  const fs = from === null ? 0 : from.length;
  const ts = to === null ? 0 : to.length;
  if (((fs | ts) & 3) !== 0 || fs + ts > 512) return -EINVAL;
  let sum = seed >>> 0;
  const add = (w: number): void => {
    sum += w >>> 0;
    if (sum > 0xffffffff) sum -= 0xffffffff;
  };
  const word = (b: Uint8Array, i: number): number => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
  for (let i = 0; i < fs; i += 4) add(~word(from!, i));
  for (let i = 0; i < ts; i += 4) add(word(to!, i));
  return sum;
}
