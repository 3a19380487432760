/*
 * Capture files: reading pcap and pcapng (to replay captures into a
 * simulated NIC) and writing them (to hand results to tcpdump/Wireshark).
 *
 * The reader is strict and all-or-nothing: the whole file is parsed and
 * validated before anything is returned, so a malformed file yields a
 * CaptureError (naming the byte offset of the offending header or block)
 * and never a partial packet list.
 *
 * Formats: pcap as in draft-ietf-opsawg-pcap (both byte orders, usec and
 * nsec magics, version 2.x); pcapng as in draft-ietf-opsawg-pcapng (SHB,
 * IDB, EPB, SPB and the obsolete Packet Block are interpreted; NRB, ISB,
 * DSB, custom and unknown blocks are checked for framing and skipped;
 * several sections, possibly of different byte orders, are accepted).
 */
import { readFile } from 'node:fs/promises';
import { EINVAL, XdpsimError } from '../shared/errno.ts';

/** LINKTYPE_ETHERNET, the only link type the simulated NICs take. */
export const LINKTYPE_ETHERNET = 1;
/** The largest captured length accepted in a pcap record (libpcap's MAXIMUM_SNAPLEN). */
export const PCAP_MAX_SNAPLEN = 262144;

export interface CapturedPacket {
  /** The captured bytes: a copy, owned by the caller (safe to modify; the input buffer can be dropped). */
  data: Uint8Array;
  /** Length of the packet on the wire (>= data.length). */
  origLen: number;
  /** Absolute timestamp, ns since the epoch (if_tsoffset applied; 0n for Simple Packet Blocks). */
  tsNs: bigint;
  /**
   * Index into CaptureFile.interfaces. For pcap it is 0; for a one-section
   * pcapng file (the usual case) it is the EPB's interface id. With several
   * sections, the interfaces of later sections are numbered after those of
   * earlier ones, so this always names one entry of `interfaces`.
   */
  ifIndex: number;
  /** pcapng opt_comment values of the packet's block, if it had any. */
  comments?: string[];
}

export interface CaptureInterface {
  linkType: number;
  /** Snapshot length; 0 means "no limit" (pcapng). */
  snapLen: number;
  /** Nanoseconds per timestamp tick (1000 for usec, 1 for nsec; may be fractional, e.g. 2^-10 s). */
  tsResolNs: number;
  /** The timestamp resolution as stated: 10^-exp or 2^-exp seconds per tick. */
  tsResol: { base: 10 | 2; exp: number };
  /** pcapng if_tsoffset, in seconds (added to every timestamp); 0n for pcap. */
  tsOffsetSec: bigint;
  /** pcapng if_name, if given. */
  name?: string;
  /** 0-based pcapng section the interface belongs to (0 for pcap). */
  section: number;
}

export interface CaptureFile {
  format: 'pcap' | 'pcapng';
  /** Byte order of the (first) section header. */
  byteOrder: 'little' | 'big';
  /** Link type of interface 0; -1 if a pcapng file defines no interface. */
  linkType: number;
  packets: CapturedPacket[];
  interfaces: CaptureInterface[];
}

/*
 * A malformed capture file: an XdpsimError (EINVAL, code 'EINVAL') whose
 * message is the reader's own, '[path: ]what at offset N: detail', without
 * the errno prefix other XdpsimErrors have: its callers put it in a message
 * of their own (generate() replaying a file: "EINVAL: generate on 'in0':
 * x.pcap: truncated packet record at offset 24: ..."). `detail` is the same
 * text, as on the loader's errors.
 */
export class CaptureError extends XdpsimError {
  /** Byte offset of the header or block at fault. */
  readonly offset: number;
  readonly detail: string;
  constructor(message: string, offset: number) {
    super(EINVAL, message);
    this.message = message;
    this.name = 'CaptureError';
    this.offset = offset;
    this.detail = message;
  }
}

const PCAP_MAGIC_USEC = 0xa1b2c3d4;
const PCAP_MAGIC_NSEC = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

const BT_IDB = 0x00000001;
const BT_PB = 0x00000002; /* obsolete Packet Block */
const BT_SPB = 0x00000003;
const BT_NRB = 0x00000004;
const BT_ISB = 0x00000005;
const BT_EPB = 0x00000006;
const BT_DSB = 0x0000000a;
const BT_CB = 0x00000bad;
const BT_CB_NOCOPY = 0x40000bad;

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const IF_NAME = 2;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const SHB_USERAPPL = 4;

const NS_PER_SEC = 1_000_000_000n;
const utf8 = new TextDecoder('utf-8');
const utf8enc = new TextEncoder();

const pad4 = (n: number): number => (n + 3) & ~3;
const hex32 = (n: number): string => '0x' + (n >>> 0).toString(16).padStart(8, '0');

function blockName(type: number): string {
  switch (type) {
    case PCAPNG_SHB: return 'SHB';
    case BT_IDB: return 'IDB';
    case BT_PB: return 'Packet Block';
    case BT_SPB: return 'SPB';
    case BT_NRB: return 'NRB';
    case BT_ISB: return 'ISB';
    case BT_EPB: return 'EPB';
    case BT_DSB: return 'DSB';
    case BT_CB: case BT_CB_NOCOPY: return 'custom block';
    default: return `block type ${hex32(type)}`;
  }
}

/* ------------------------------------------------------------------ */
/* reading                                                             */
/* ------------------------------------------------------------------ */

/** Parse a pcap or pcapng file held in memory; the format is told by its magic. */
export function parseCapture(buf: Uint8Array, name?: string): CaptureFile {
  const pfx = name ? `${name}: ` : '';
  const fail = (what: string, off: number, detail: string): never => {
    throw new CaptureError(`${pfx}${what} at offset ${off}: ${detail}`, off);
  };
  if (buf.length === 0) fail('empty file', 0, 'no magic (0 bytes)');
  if (buf.length < 4) {
    const seen = Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
    fail('unknown magic', 0, `0x${seen} (file is only ${buf.length} bytes, not pcap or pcapng)`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const be = dv.getUint32(0, false);
  if (be === PCAPNG_SHB) return parsePcapng(buf, dv, fail);
  const le = dv.getUint32(0, true);
  if (be === PCAP_MAGIC_USEC || be === PCAP_MAGIC_NSEC) return parsePcap(buf, dv, false, be === PCAP_MAGIC_NSEC, fail);
  if (le === PCAP_MAGIC_USEC || le === PCAP_MAGIC_NSEC) return parsePcap(buf, dv, true, le === PCAP_MAGIC_NSEC, fail);
  return fail('unknown magic', 0, `${hex32(be)} (not pcap or pcapng)`);
}

/**
 * Read a whole capture file, then parseCapture it (errors are prefixed with
 * the path). A file that cannot be read is an XdpsimError too, with the
 * system's errno (ENOENT, EISDIR, EACCES; EINVAL for one too large to read).
 */
export async function readCapture(path: string): Promise<CaptureFile> {
  let b: Buffer;
  try {
    b = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (typeof err.code !== 'string') throw e;
    /* "ENOENT: no such file or directory, open 'x.pcap'" -> "ENOENT: x.pcap: no such file or directory" */
    const why = err.message.replace(/^E[A-Z0-9]+: /, '').replace(/, \w+ '.*'$/, '');
    throw new XdpsimError(typeof err.errno === 'number' && err.errno !== 0 ? err.errno : EINVAL, `${path}: ${why}`);
  }
  return parseCapture(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), path);
}

type Fail = (what: string, off: number, detail: string) => never;

function parsePcap(buf: Uint8Array, dv: DataView, le: boolean, nano: boolean, fail: Fail): CaptureFile {
  if (buf.length < 24) fail('truncated pcap file header', 0, `need 24 bytes, file has ${buf.length}`);
  const major = dv.getUint16(4, le), minor = dv.getUint16(6, le);
  if (major !== 2) fail('pcap file header', 0, `unsupported version ${major}.${minor} (expected 2.4)`);
  const hdrSnap = dv.getUint32(16, le);
  /* libpcap: a snaplen of 0 (or absurdly large) means "the maximum" */
  const snapLen = hdrSnap === 0 || hdrSnap > 0x7fffffff ? PCAP_MAX_SNAPLEN : hdrSnap;
  const linkType = dv.getUint32(20, le) & 0x03ffffff; /* upper bits: FCS length info */
  const fracNs = nano ? 1n : 1000n;
  const packets: CapturedPacket[] = [];
  let off = 24;
  while (off < buf.length) {
    const left = buf.length - off;
    if (left < 16) fail('truncated packet record header', off, `need 16 bytes, ${left} left`);
    const sec = dv.getUint32(off, le), frac = dv.getUint32(off + 4, le);
    const incl = dv.getUint32(off + 8, le), orig = dv.getUint32(off + 12, le);
    if (incl > PCAP_MAX_SNAPLEN) fail('packet record', off, `captured length ${incl} exceeds the maximum ${PCAP_MAX_SNAPLEN}`);
    if (incl > snapLen) fail('packet record', off, `captured length ${incl} exceeds snaplen ${snapLen}`);
    if (incl > orig) fail('packet record', off, `captured length ${incl} exceeds original length ${orig}`);
    if (incl > left - 16) fail('truncated packet record', off, `header says ${incl} bytes, ${left - 16} left`);
    packets.push({
      data: buf.slice(off + 16, off + 16 + incl),
      origLen: orig,
      tsNs: BigInt(sec) * NS_PER_SEC + BigInt(frac) * fracNs,
      ifIndex: 0,
    });
    off += 16 + incl;
  }
  return {
    format: 'pcap',
    byteOrder: le ? 'little' : 'big',
    linkType,
    packets,
    interfaces: [{
      linkType, snapLen, tsResolNs: nano ? 1 : 1000, tsResol: { base: 10, exp: nano ? 9 : 6 },
      tsOffsetSec: 0n, section: 0,
    }],
  };
}

interface Opt { code: number; off: number; len: number }

function parsePcapng(buf: Uint8Array, dv: DataView, fail: Fail): CaptureFile {
  const interfaces: CaptureInterface[] = [];
  const packets: CapturedPacket[] = [];
  let le = true;
  let firstLe: boolean | undefined;
  let section = -1;
  let base = 0; /* index in `interfaces` of this section's interface 0 */

  /* The options of a block, from `start` to `end` (the trailing length). */
  const options = (bname: string, boff: number, start: number, end: number): Opt[] => {
    const out: Opt[] = [];
    let p = start;
    while (p + 4 <= end) {
      const code = dv.getUint16(p, le), len = dv.getUint16(p + 2, le);
      if (code === OPT_ENDOFOPT) break;
      if (p + 4 + pad4(len) > end) {
        fail(bname, boff, `option ${code} at offset ${p} (length ${len}) runs past the end of the block`);
      }
      out.push({ code, off: p + 4, len });
      p += 4 + pad4(len);
    }
    return out;
  };
  const comments = (opts: Opt[]): string[] | undefined => {
    const c = opts.filter((o) => o.code === OPT_COMMENT).map((o) => utf8.decode(buf.subarray(o.off, o.off + o.len)));
    return c.length ? c : undefined;
  };
  const iface = (bname: string, boff: number, id: number): number => {
    const n = interfaces.length - base;
    if (id >= n) fail(bname, boff, `interface id ${id} is not defined (${n} interface${n === 1 ? '' : 's'} in this section)`);
    return base + id;
  };
  const tsOf = (ifx: number, hi: number, lo: number): bigint => {
    const i = interfaces[ifx]!;
    const ticks = (BigInt(hi) << 32n) | BigInt(lo);
    const { base: b, exp } = i.tsResol;
    let ns: bigint;
    if (b === 2) ns = (ticks * NS_PER_SEC) >> BigInt(exp);
    else if (exp <= 9) ns = ticks * 10n ** BigInt(9 - exp);
    else ns = ticks / 10n ** BigInt(exp - 9);
    return ns + i.tsOffsetSec * NS_PER_SEC;
  };
  const checkCaplen = (bname: string, boff: number, ifx: number, cap: number, orig: number, room: number): void => {
    if (cap > room) fail(bname, boff, `captured length ${cap} runs past the end of the block (room for ${room})`);
    const snap = interfaces[ifx]!.snapLen;
    if (snap !== 0 && cap > snap) fail(bname, boff, `captured length ${cap} exceeds snaplen ${snap} of interface ${ifx - base}`);
    if (cap > orig) fail(bname, boff, `captured length ${cap} exceeds original length ${orig}`);
  };

  let off = 0;
  while (off < buf.length) {
    const left = buf.length - off;
    if (left < 12) fail('truncated block', off, `${left} bytes left, a block needs at least 12`);
    const type0 = dv.getUint32(off, le);
    if (type0 === PCAPNG_SHB) {
      const bom = dv.getUint32(off + 8, false);
      if (bom === PCAPNG_BOM) le = false;
      else if (bom === 0x4d3c2b1a) le = true;
      else fail('SHB', off, `bad byte-order magic ${hex32(bom)} (expected 0x1a2b3c4d)`);
    } else if (section < 0) {
      fail('pcapng', off, 'file does not start with a Section Header Block');
    }
    const type = dv.getUint32(off, le);
    const len = dv.getUint32(off + 4, le);
    const bname = blockName(type);
    if (len < 12) fail(bname, off, `block total length ${len} is less than 12`);
    if (len % 4 !== 0) fail(bname, off, `block total length ${len} is not a multiple of 4`);
    if (len > left) fail(bname, off, `block runs past end of file: length ${len}, ${left} bytes left`);
    const trail = dv.getUint32(off + len - 4, le);
    if (trail !== len) fail(bname, off, `trailing block length ${trail} does not match leading length ${len}`);
    const end = off + len - 4; /* body is [off + 8, end) */
    const need = (min: number): void => {
      if (len < min) fail(bname, off, `block total length ${len} is too short for ${bname} (minimum ${min})`);
    };

    switch (type) {
      case PCAPNG_SHB: {
        need(28);
        const major = dv.getUint16(off + 12, le), minor = dv.getUint16(off + 14, le);
        if (major !== 1) fail(bname, off, `unsupported pcapng version ${major}.${minor} (expected 1.x)`);
        options(bname, off, off + 24, end);
        section++;
        base = interfaces.length;
        if (firstLe === undefined) firstLe = le;
        break;
      }
      case BT_IDB: {
        need(20);
        const i: CaptureInterface = {
          linkType: dv.getUint16(off + 8, le),
          snapLen: dv.getUint32(off + 12, le),
          tsResolNs: 1000,
          tsResol: { base: 10, exp: 6 },
          tsOffsetSec: 0n,
          section,
        };
        for (const o of options(bname, off, off + 16, end)) {
          if (o.code === IF_TSRESOL) {
            if (o.len !== 1) fail(bname, off, `if_tsresol option has length ${o.len}, expected 1`);
            const v = buf[o.off]!;
            i.tsResol = v & 0x80 ? { base: 2, exp: v & 0x7f } : { base: 10, exp: v };
            i.tsResolNs = v & 0x80 ? 1e9 / 2 ** (v & 0x7f) : 10 ** (9 - v);
          } else if (o.code === IF_TSOFFSET) {
            if (o.len !== 8) fail(bname, off, `if_tsoffset option has length ${o.len}, expected 8`);
            i.tsOffsetSec = dv.getBigInt64(o.off, le);
          } else if (o.code === IF_NAME) {
            i.name = utf8.decode(buf.subarray(o.off, o.off + o.len));
          }
        }
        interfaces.push(i);
        break;
      }
      case BT_EPB:
      case BT_PB: {
        need(32);
        const id = type === BT_EPB ? dv.getUint32(off + 8, le) : dv.getUint16(off + 8, le);
        const ifx = iface(bname, off, id);
        const hi = dv.getUint32(off + 12, le), lo = dv.getUint32(off + 16, le);
        const cap = dv.getUint32(off + 20, le), orig = dv.getUint32(off + 24, le);
        checkCaplen(bname, off, ifx, cap, orig, end - (off + 28));
        const p: CapturedPacket = {
          data: buf.slice(off + 28, off + 28 + cap), origLen: orig, tsNs: tsOf(ifx, hi, lo), ifIndex: ifx,
        };
        const c = comments(options(bname, off, off + 28 + pad4(cap), end));
        if (c) p.comments = c;
        packets.push(p);
        break;
      }
      case BT_SPB: {
        need(16);
        const ifx = iface(bname, off, 0);
        const orig = dv.getUint32(off + 8, le);
        const snap = interfaces[ifx]!.snapLen;
        const cap = snap !== 0 && snap < orig ? snap : orig;
        checkCaplen(bname, off, ifx, cap, orig, end - (off + 12));
        packets.push({ data: buf.slice(off + 12, off + 12 + cap), origLen: orig, tsNs: 0n, ifIndex: ifx });
        break;
      }
      default:
        break; /* NRB, ISB, DSB, custom, unknown: framing checked above, contents skipped */
    }
    off += len;
  }
  const iface0 = interfaces[0];
  return {
    format: 'pcapng',
    byteOrder: firstLe === false ? 'big' : 'little',
    linkType: iface0 ? iface0.linkType : -1,
    packets,
    interfaces,
  };
}

/* ------------------------------------------------------------------ */
/* writing (little-endian)                                             */
/* ------------------------------------------------------------------ */

function checkTs(tsNs: bigint, what: string): void {
  if (tsNs < 0n) throw new RangeError(`${what}: negative timestamp ${tsNs}`);
}

/**
 * A pcap file (little-endian, version 2.4). Timestamps are truncated to
 * microseconds unless opts.nano. Packets longer than snapLen are cut to
 * snapLen (their orig_len keeps the full length).
 */
export function writePcap(
  packets: Array<{ data: Uint8Array; tsNs: bigint; origLen?: number }>,
  opts: { nano?: boolean; linkType?: number; snapLen?: number } = {},
): Uint8Array {
  const nano = opts.nano ?? false;
  const linkType = opts.linkType ?? LINKTYPE_ETHERNET;
  const snapLen = opts.snapLen ?? PCAP_MAX_SNAPLEN;
  if (!Number.isInteger(snapLen) || snapLen < 1 || snapLen > PCAP_MAX_SNAPLEN) {
    throw new RangeError(`writePcap: snapLen ${snapLen} is not in 1..${PCAP_MAX_SNAPLEN}`);
  }
  let size = 24;
  for (const p of packets) size += 16 + Math.min(p.data.length, snapLen);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, nano ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, snapLen, true);
  dv.setUint32(20, linkType, true);
  let off = 24;
  packets.forEach((p, n) => {
    const what = `writePcap: packet ${n}`;
    checkTs(p.tsNs, what);
    const sec = p.tsNs / NS_PER_SEC;
    if (sec > 0xffffffffn) throw new RangeError(`${what}: timestamp ${p.tsNs} ns does not fit in 32-bit seconds`);
    const frac = nano ? p.tsNs % NS_PER_SEC : (p.tsNs % NS_PER_SEC) / 1000n;
    const orig = p.origLen ?? p.data.length;
    if (!Number.isInteger(orig) || orig < p.data.length || orig > 0xffffffff) {
      throw new RangeError(`${what}: origLen ${orig} is not in ${p.data.length}..4294967295 (the bytes given .. u32)`);
    }
    const cap = Math.min(p.data.length, snapLen);
    dv.setUint32(off, Number(sec), true);
    dv.setUint32(off + 4, Number(frac), true);
    dv.setUint32(off + 8, cap, true);
    dv.setUint32(off + 12, orig, true);
    out.set(p.data.subarray(0, cap), off + 16);
    off += 16 + cap;
  });
  return out;
}

class BlockWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;
  block(type: number, body: Uint8Array): void {
    const len = 12 + body.length; /* body is built 4-aligned */
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, type, true);
    dv.setUint32(4, len, true);
    b.set(body, 8);
    dv.setUint32(len - 4, len, true);
    this.parts.push(b);
    this.size += len;
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const p of this.parts) { out.set(p, off); off += p.length; }
    return out;
  }
}

/** Fixed fields + padded data + options (with opt_endofopt if any), as one 4-aligned body. */
function body(fixed: Uint8Array, data: Uint8Array | null, opts: Array<[number, Uint8Array]>): Uint8Array {
  let len = fixed.length + (data ? pad4(data.length) : 0);
  for (const [, v] of opts) len += 4 + pad4(v.length);
  if (opts.length) len += 4;
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  b.set(fixed, 0);
  let off = fixed.length;
  if (data) { b.set(data, off); off += pad4(data.length); }
  for (const [code, v] of opts) {
    if (v.length > 0xffff) throw new RangeError(`writePcapng: option ${code} value is ${v.length} bytes (max 65535)`);
    dv.setUint16(off, code, true);
    dv.setUint16(off + 2, v.length, true);
    b.set(v, off + 4);
    off += 4 + pad4(v.length);
  }
  return b; /* the trailing opt_endofopt is already zero */
}

/** pcapng's epb_flags direction bits (option 2): inbound, outbound */
export const EPB_INBOUND = 1;
export const EPB_OUTBOUND = 2;
const EPB_FLAGS = 2;

/** One block: type, total length, body, total length. */
function oneBlock(type: number, b: Uint8Array): Uint8Array {
  const w = new BlockWriter();
  w.block(type, b);
  return w.concat();
}

/**
 * The head of a pcapng file (little-endian): one SHB, then one IDB per
 * interface (if_name if given, if_tsresol 9 = nanoseconds).
 */
export function pcapngHead(ifaces: Array<{ name?: string; linkType?: number; snapLen?: number }>): Uint8Array {
  const w = new BlockWriter();
  const shb = new Uint8Array(16);
  const sdv = new DataView(shb.buffer);
  sdv.setUint32(0, PCAPNG_BOM, true);
  sdv.setUint16(4, 1, true);
  sdv.setUint16(6, 0, true);
  sdv.setBigInt64(8, -1n, true); /* section length not specified */
  w.block(PCAPNG_SHB, body(shb, null, [[SHB_USERAPPL, utf8enc.encode('xdpsim')]]));
  for (const i of ifaces) {
    const snap = i.snapLen ?? PCAP_MAX_SNAPLEN;
    if (!Number.isInteger(snap) || snap < 0 || snap > 0xffffffff) throw new RangeError(`writePcapng: bad snapLen ${snap}`);
    const f = new Uint8Array(8);
    const dv = new DataView(f.buffer);
    dv.setUint16(0, i.linkType ?? LINKTYPE_ETHERNET, true);
    dv.setUint32(4, snap, true);
    const opts: Array<[number, Uint8Array]> = [];
    if (i.name !== undefined) opts.push([IF_NAME, utf8enc.encode(i.name)]);
    opts.push([IF_TSRESOL, Uint8Array.of(9)]);
    w.block(BT_IDB, body(f, null, opts));
  }
  return w.concat();
}

/** One Enhanced Packet Block: captured bytes `data` (already cut to the snap length), with an optional comment and direction. */
export function pcapngEpb(ifIndex: number, data: Uint8Array, origLen: number, tsNs: bigint, comment?: string, direction?: number): Uint8Array {
  const f = new Uint8Array(20);
  const dv = new DataView(f.buffer);
  dv.setUint32(0, ifIndex, true);
  dv.setUint32(4, Number(tsNs >> 32n), true);
  dv.setUint32(8, Number(tsNs & 0xffffffffn), true);
  dv.setUint32(12, data.length, true);
  dv.setUint32(16, origLen, true);
  const opts: Array<[number, Uint8Array]> = [];
  if (comment !== undefined) opts.push([OPT_COMMENT, utf8enc.encode(comment)]);
  if (direction !== undefined) {
    const fl = new Uint8Array(4);
    new DataView(fl.buffer).setUint32(0, direction, true);
    opts.push([EPB_FLAGS, fl]);
  }
  return oneBlock(BT_EPB, body(f, data, opts));
}

/**
 * A minimal pcapng file (little-endian): pcapngHead(ifaces), then one EPB
 * per packet (opt_comment if given). Packets longer than their interface's
 * snapLen are cut to it.
 */
export function writePcapng(
  ifaces: Array<{ name?: string; linkType?: number; snapLen?: number }>,
  packets: Array<{ ifIndex: number; data: Uint8Array; origLen?: number; tsNs: bigint; comment?: string }>,
): Uint8Array {
  const parts: Uint8Array[] = [pcapngHead(ifaces)];
  const snaps = ifaces.map((i) => i.snapLen ?? PCAP_MAX_SNAPLEN);
  packets.forEach((p, n) => {
    const what = `writePcapng: packet ${n}`;
    if (!Number.isInteger(p.ifIndex) || p.ifIndex < 0 || p.ifIndex >= ifaces.length) {
      throw new RangeError(`${what}: ifIndex ${p.ifIndex} is not one of the ${ifaces.length} interfaces`);
    }
    checkTs(p.tsNs, what);
    if (p.tsNs > 0xffffffffffffffffn) throw new RangeError(`${what}: timestamp ${p.tsNs} does not fit in 64 bits`);
    const orig = p.origLen ?? p.data.length;
    if (!Number.isInteger(orig) || orig < p.data.length || orig > 0xffffffff) {
      throw new RangeError(`${what}: origLen ${orig} is not in ${p.data.length}..4294967295 (the bytes given .. u32)`);
    }
    const snap = snaps[p.ifIndex]!;
    const data = snap !== 0 && p.data.length > snap ? p.data.subarray(0, snap) : p.data;
    parts.push(pcapngEpb(p.ifIndex, data, orig, p.tsNs, p.comment));
  });
  const out = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const b of parts) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
