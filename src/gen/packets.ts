/*
 * The frame builder of the traffic generator (modelled on xdp-trafficgen
 * and pktgen): Ethernet [+ 802.1Q] + IPv4 / IPv6 + UDP / TCP SYN frames with
 * valid checksums, flows as a mixed-radix walk over port and address ranges,
 * frame-size sequences (fixed, seeded uniform range, IMIX), and the Toeplitz
 * RSS hash a NIC with the standard Microsoft key computes for each flow.
 *
 * Frame layout (sizes exclude the FCS):
 *   Ethernet 14 [+ 4 for the 802.1Q tag, TPID 0x8100, after the MACs]
 *   IPv4 20 (IHL 5, DF, id 0)  |  IPv6 40 (traffic class 0, flow label 0)
 *   UDP 8                      |  TCP 20 (data offset 5, no options: no MSS)
 *   payload: byte j of the frame (j counted from the frame's first byte) is
 *            j & 0xff, so payloads of two sizes agree on their common prefix.
 * Header lengths: ipv4/udp 42, ipv4/tcp 54, ipv6/udp 62, ipv6/tcp 74 (+4 VLAN).
 *
 * writeHeaders() is the hot path: everything constant lives in a per-spec
 * header template, the payload pattern's checksum for every frame size is a
 * table built once per header length (shared by all specs), and a call does
 * one template copy (TypedArray.set), the flow's variable fields and two or
 * three 16-bit folds - no allocation (about 26-45 ns a call on Node 20).
 * Pure data and functions: safe on every thread.
 */

export type SizeSpec = number | { min: number; max: number } | 'imix' | { imix: Array<[size: number, weight: number]> };

export interface TrafficSpec {
  /** Default 'ipv4'. */
  l3?: 'ipv4' | 'ipv6';
  /** Default 'udp'. 'tcp-syn': flags SYN only, data offset 5 (no options), window 64240, ack 0, seq = synSeq(flow index). */
  l4?: 'udp' | 'tcp-syn';
  /**
   * Frame length without FCS: headerLen .. MAX_FRAME (9018). Default 64, or the
   * header length when that is larger (ipv6/tcp-syn: 74, 78 tagged).
   * {min, max}: 1024 seeded uniform draws. 'imix': 7:4:1 of 60/590/1514, with
   * 60 raised to the header length when the headers do not fit (every IPv6
   * combination: 62/66/74/78). {imix: [[size, weight], ...]}: a seeded shuffle.
   */
  size?: SizeSpec;
  /** 1 .. 2^20. Without ranges: that many source ports. With ranges: a prefix (default: all). */
  flows?: number;
  srcMac?: string;  /* default 02:00:00:00:00:01 */
  dstMac?: string;  /* default 02:00:00:00:00:02 */
  srcIp?: string;   /* first of the range; default 10.0.0.1 / fd00::1 */
  dstIp?: string;   /* default 10.0.0.2 / fd00::2 */
  srcIps?: number;  /* consecutive addresses (carrying across bytes), default 1 */
  dstIps?: number;
  srcPort?: number; /* first port, default 1024 */
  dstPort?: number; /* default 9 */
  srcPorts?: number; /* consecutive ports (never past 65535) */
  dstPorts?: number;
  /** 802.1Q VID 0..4095 (TPID 0x8100 after the MACs); absent: untagged. */
  vlan?: number;
  /** PCP 0..7; needs vlan. */
  vlanPrio?: number;
  /** IPv4 TTL / IPv6 hop limit, 0..255, default 64. */
  ttl?: number;
  /** Seeds the size sequence of ranges and IMIX (default 1). */
  seed?: number;
}

export interface Flow {
  src: Uint8Array; /* 4 or 16 bytes, network order */
  dst: Uint8Array;
  sport: number;
  dport: number;
  proto: 6 | 17;
}

/** A size spec after normalisation: 'imix' is expanded to its table. */
export type NormalSize = number | { min: number; max: number } | { imix: Array<[size: number, weight: number]> };

/** The spec with every default filled in and every string in canonical form. */
export interface NormalTraffic {
  l3: 'ipv4' | 'ipv6';
  l4: 'udp' | 'tcp-syn';
  size: NormalSize;
  flows: number;          /* = nflows */
  srcMac: string;         /* lower case aa:bb:cc:dd:ee:ff */
  dstMac: string;
  srcIp: string;          /* dotted quad / RFC 5952 text */
  dstIp: string;
  srcIps: number;
  dstIps: number;
  srcPort: number;
  dstPort: number;
  srcPorts: number;
  dstPorts: number;
  vlan: number | null;    /* null: untagged */
  vlanPrio: number;
  ttl: number;
  seed: number;
}

export interface CompiledTraffic {
  spec: NormalTraffic;
  nflows: number;
  /** Flow i of 0..nflows-1 (fresh arrays on every call). */
  flow(i: number): Flow;
  /** u32 Toeplitz hash of flow i with the default Microsoft key over src, dst, sport, dport. */
  rssHash(i: number): number;
  /** Packet k of a stream has size sizes[k % sizes.length]. */
  sizes: Int32Array;
  distinctSizes: Int32Array;
  /** Smallest / largest size in `sizes` (what is ever sent). */
  minSize: number;
  maxSize: number;
  headerLen: number;
  write(i: number, size: number, out: Uint8Array, off: number): number;
  writeHeaders(i: number, size: number, out: Uint8Array, off: number): void;
}

export const ETH_HLEN = 14;
export const VLAN_HLEN = 4;
export const IPV4_HLEN = 20;
export const IPV6_HLEN = 40;
export const UDP_HLEN = 8;
export const TCP_HLEN = 20;
/** Largest frame: a 9000-byte MTU plus Ethernet and one VLAN tag (no FCS). */
export const MAX_FRAME = 9000 + ETH_HLEN + VLAN_HLEN;
export const MAX_FLOWS = 1 << 20;
/** Largest total IMIX weight (the length of one unshuffled period). */
export const MAX_IMIX_WEIGHT = 1 << 20;
/** Simple IMIX 7:4:1 (the no-FCS equivalents of 64 / 594 / 1518). */
export const IMIX_SIMPLE: ReadonlyArray<readonly [size: number, weight: number]> = [[60, 7], [590, 4], [1514, 1]];
export const DEFAULT_SIZE = 64;
export const RANGE_SEQUENCE_LEN = 1024;
export const TCP_SYN_WINDOW = 64240;

/** Bytes of L2 + L3 + L4 headers for a combination. */
export function headerLength(l3: 'ipv4' | 'ipv6', l4: 'udp' | 'tcp-syn', vlan: boolean): number {
  return ETH_HLEN + (vlan ? VLAN_HLEN : 0) + (l3 === 'ipv6' ? IPV6_HLEN : IPV4_HLEN) + (l4 === 'tcp-syn' ? TCP_HLEN : UDP_HLEN);
}

/* ------------------------------------------------------------------ */
/* Toeplitz                                                            */

/** The 40-byte key of Microsoft's RSS verification suite (the usual NIC default). */
export const RSS_DEFAULT_KEY: Uint8Array = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
  0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
  0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
]);

/**
 * The Toeplitz hash of `input` under `key` (u32): for every input bit set,
 * counting from the most significant bit of input[0], XOR in the 32 key bits
 * starting at the same bit position. The key needs input.length + 4 bytes.
 */
export function toeplitzHash(key: Uint8Array, input: Uint8Array): number {
  if (key.length < input.length + 4) {
    throw new RangeError(`toeplitzHash: a ${key.length}-byte key is too short for ${input.length} bytes of input (needs ${input.length + 4})`);
  }
  let result = 0;
  let window = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
  for (let i = 0; i < input.length; i++) {
    const next = i + 4 < key.length ? key[i + 4]! : 0;
    const byte = input[i]!;
    for (let b = 7; b >= 0; b--) {
      if ((byte >>> b) & 1) result ^= window;
      window = ((window << 1) | ((next >>> b) & 1)) >>> 0;
    }
  }
  return result >>> 0;
}

/* table[pos * 256 + v]: what byte value v at input position pos XORs in, for
 * a private copy of the default key (RSS_DEFAULT_KEY is exported mutable). */
const RSS_MAX_INPUT = 36;
const RSS_TABLE: Uint32Array = (() => {
  const key = Uint8Array.from(RSS_DEFAULT_KEY);
  const bitAt = (n: number): number => (key[n >>> 3]! >>> (7 - (n & 7))) & 1;
  const t = new Uint32Array(RSS_MAX_INPUT * 256);
  for (let pos = 0; pos < RSS_MAX_INPUT; pos++) {
    const w = new Uint32Array(8); /* w[b]: window for bit b of the byte, b = 0 the MSB */
    for (let b = 0; b < 8; b++) {
      let x = 0;
      for (let k = 0; k < 32; k++) x = (x << 1) | bitAt(pos * 8 + b + k);
      w[b] = x >>> 0;
    }
    for (let v = 1; v < 256; v++) {
      let x = 0;
      for (let b = 0; b < 8; b++) if ((v >>> (7 - b)) & 1) x ^= w[b]!;
      t[pos * 256 + v] = x >>> 0;
    }
  }
  return t;
})();

function rssTable(input: Uint8Array, len: number): number {
  let h = 0;
  for (let i = 0; i < len; i++) h ^= RSS_TABLE[(i << 8) | input[i]!]!;
  return h >>> 0;
}

/* ------------------------------------------------------------------ */
/* Parsing and formatting                                              */

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function parseMac(field: string, s: unknown): Uint8Array {
  if (typeof s !== 'string' || !MAC_RE.test(s)) throw new RangeError(`${field}: bad MAC address '${String(s)}' (want six hex pairs separated by ':')`);
  return Uint8Array.from(s.split(':').map((x) => parseInt(x, 16)));
}

function macString(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Dotted quad, strict: four decimal parts 0..255, no signs or spaces. */
function parseIp4(s: string): number | null {
  const p = s.split('.');
  if (p.length !== 4) return null;
  let a = 0;
  for (const x of p) {
    if (!/^[0-9]{1,3}$/.test(x)) return null;
    const v = Number(x);
    if (v > 255) return null;
    a = a * 256 + v;
  }
  return a;
}

function ip4String(a: number): string {
  return `${Math.floor(a / 16777216) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** RFC 4291 text (with '::' and an optional dotted-quad tail) to 8 words. */
function parseIp6(s: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  const side = (part: string, v4tail: boolean): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: number[] = [];
    for (let g = 0; g < groups.length; g++) {
      const x = groups[g]!;
      if (v4tail && g === groups.length - 1 && x.includes('.')) {
        const a = parseIp4(x);
        if (a === null) return null;
        out.push(Math.floor(a / 65536), a & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(x)) return null;
      out.push(parseInt(x, 16));
    }
    return out;
  };
  const dbl = s.indexOf('::');
  if (dbl < 0) {
    const w = side(s, true);
    return w !== null && w.length === 8 ? w : null;
  }
  if (s.indexOf('::', dbl + 1) >= 0) return null;
  const head = side(s.slice(0, dbl), false);
  const tail = side(s.slice(dbl + 2), true);
  if (head === null || tail === null || head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (>= 2) of zero words as '::'. */
function ip6String(w: ArrayLike<number>): string {
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number, b: number): string => Array.from({ length: b - a }, (_, k) => w[a + k]!.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/* ------------------------------------------------------------------ */
/* Size sequences                                                      */

/** mulberry32: a small seeded u32 generator. */
function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function below(r: () => number, n: number): number {
  return Math.floor((r() / 4294967296) * n);
}

function sizeSequence(size: NormalSize, seed: number): Int32Array {
  if (typeof size === 'number') return Int32Array.of(size);
  const r = prng(seed);
  if ('min' in size) {
    const seq = new Int32Array(RANGE_SEQUENCE_LEN);
    const n = size.max - size.min + 1;
    for (let k = 0; k < seq.length; k++) seq[k] = size.min + below(r, n);
    return seq;
  }
  const total = size.imix.reduce((s, [, w]) => s + w, 0);
  const reps = Math.max(1, Math.ceil(RANGE_SEQUENCE_LEN / total));
  const seq = new Int32Array(total * reps);
  let k = 0;
  for (let rep = 0; rep < reps; rep++) for (const [sz, w] of size.imix) for (let j = 0; j < w; j++) seq[k++] = sz;
  for (let i = seq.length - 1; i > 0; i--) { /* Fisher-Yates */
    const j = below(r, i + 1);
    const t = seq[i]!;
    seq[i] = seq[j]!;
    seq[j] = t;
  }
  return seq;
}

/* ------------------------------------------------------------------ */
/* Payload pattern checksums                                           */

const PATTERN: Uint8Array = Uint8Array.from({ length: MAX_FRAME }, (_, j) => j & 0xff);

/* PAYSUM[hlen][size]: the unfolded 16-bit-word sum of pattern bytes
 * [hlen, size) (hlen is even, so words start at even frame offsets). */
const PAYSUM = new Map<number, Uint32Array>();
function payloadSums(hlen: number): Uint32Array {
  let t = PAYSUM.get(hlen);
  if (t !== undefined) return t;
  t = new Uint32Array(MAX_FRAME + 1);
  let s = 0;
  for (let size = hlen + 1; size <= MAX_FRAME; size++) {
    if (((size - hlen) & 1) === 1) {
      t[size] = s + (((size - 1) & 0xff) << 8);
    } else {
      s += (((size - 2) & 0xff) << 8) | ((size - 1) & 0xff);
      t[size] = s;
    }
  }
  PAYSUM.set(hlen, t);
  return t;
}

/* murmur3's finaliser: the TCP initial sequence number of a flow. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** TCP SYN sequence number of flow i: fmix32((i + 1) * 0x9e3779b1). */
export function synSeq(i: number): number {
  return fmix32(Math.imul(i + 1, 0x9e3779b1));
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */

const KNOWN = new Set(['l3', 'l4', 'size', 'flows', 'srcMac', 'dstMac', 'srcIp', 'dstIp', 'srcIps', 'dstIps',
  'srcPort', 'dstPort', 'srcPorts', 'dstPorts', 'vlan', 'vlanPrio', 'ttl', 'seed']);

function intIn(field: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`${field}: ${String(v)} is not an integer in ${lo}..${hi}`);
  }
  return v;
}

function count(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new RangeError(`${field}: ${String(v)} is not a positive integer`);
  return v;
}

interface Addr { text: string; words: number[] /* 2 (ipv4) or 8 16-bit words */; }

function parseAddr(field: string, s: unknown, l3: 'ipv4' | 'ipv6'): Addr {
  if (typeof s !== 'string') throw new RangeError(`${field}: bad ${l3 === 'ipv4' ? 'IPv4' : 'IPv6'} address '${String(s)}'`);
  if (l3 === 'ipv4') {
    const a = parseIp4(s);
    if (a === null) throw new RangeError(`${field}: bad IPv4 address '${s}'${parseIp6(s) !== null ? ' (l3 is ipv4)' : ''}`);
    return { text: ip4String(a), words: [Math.floor(a / 65536), a & 0xffff] };
  }
  const w = parseIp6(s);
  if (w === null) throw new RangeError(`${field}: bad IPv6 address '${s}'${parseIp4(s) !== null ? ' (l3 is ipv6)' : ''}`);
  return { text: ip6String(w), words: w };
}

function addrBig(words: number[]): bigint {
  return words.reduce((a, w) => (a << 16n) | BigInt(w), 0n);
}

function checkAddrRange(field: string, base: Addr, n: number): void {
  const bits = BigInt(base.words.length * 16);
  const last = addrBig(base.words) + BigInt(n - 1);
  if (last >> bits !== 0n) {
    const max = base.words.length === 2 ? '255.255.255.255' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    throw new RangeError(`${field}: ${base.text} + ${n} addresses runs past ${max}`);
  }
}

function normSize(s: unknown, hlen: number, l3: string, l4: string, vlan: boolean): NormalSize {
  const what = `${l3}/${l4}${vlan ? '/vlan' : ''}`;
  const one = (field: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new RangeError(`${field}: ${String(v)} is not an integer frame length`);
    if (v < hlen) throw new RangeError(`${field}: ${v} is below the minimum ${hlen} for ${what} headers`);
    if (v > MAX_FRAME) throw new RangeError(`${field}: ${v} is above the maximum ${MAX_FRAME} (9000-byte jumbo MTU + 14 Ethernet + 4 VLAN)`);
    return v;
  };
  if (s === undefined) return Math.max(DEFAULT_SIZE, hlen);
  if (typeof s === 'number') return one('size', s);
  /* the simple IMIX's 60-byte frame cannot hold IPv6 headers: it becomes the header length */
  if (s === 'imix') return { imix: IMIX_SIMPLE.map(([sz, w]): [number, number] => [Math.max(sz, hlen), w]) };
  if (typeof s !== 'object' || s === null) throw new RangeError(`size: ${String(s)} is not a size (a number, {min, max}, 'imix' or {imix: [[size, weight], ...]})`);
  if ('imix' in s) {
    const t = (s as { imix: unknown }).imix;
    if (!Array.isArray(t) || t.length === 0) throw new RangeError('size.imix: must be a non-empty array of [size, weight]');
    let total = 0;
    const out: Array<[number, number]> = t.map((e: unknown, k): [number, number] => {
      if (!Array.isArray(e) || e.length !== 2) throw new RangeError(`size.imix[${k}]: must be a [size, weight] pair`);
      const sz = one(`size.imix[${k}] size`, e[0]);
      const w: unknown = e[1];
      if (typeof w !== 'number' || !Number.isInteger(w) || w < 1) throw new RangeError(`size.imix[${k}] weight: ${String(w)} is not a positive integer`);
      total += w;
      return [sz, w];
    });
    if (total > MAX_IMIX_WEIGHT) throw new RangeError(`size.imix: total weight ${total} exceeds ${MAX_IMIX_WEIGHT}`);
    return { imix: out };
  }
  if ('min' in s || 'max' in s) {
    const r = s as { min: unknown; max: unknown };
    const min = one('size.min', r.min);
    const max = one('size.max', r.max);
    if (min > max) throw new RangeError(`size: min ${min} is above max ${max}`);
    return { min, max };
  }
  throw new RangeError(`size: ${JSON.stringify(s)} is not a size (a number, {min, max}, 'imix' or {imix: [[size, weight], ...]})`);
}

function normalise(spec: TrafficSpec): { n: NormalTraffic; src: Addr; dst: Addr; smac: Uint8Array; dmac: Uint8Array } {
  if (typeof spec !== 'object' || spec === null) throw new RangeError('spec: must be an object');
  for (const k of Object.keys(spec)) if (!KNOWN.has(k)) throw new RangeError(`${k}: unknown field`);
  const l3 = spec.l3 ?? 'ipv4';
  if (l3 !== 'ipv4' && l3 !== 'ipv6') throw new RangeError(`l3: '${String(l3)}' is not 'ipv4' or 'ipv6'`);
  const l4 = spec.l4 ?? 'udp';
  if (l4 !== 'udp' && l4 !== 'tcp-syn') throw new RangeError(`l4: '${String(l4)}' is not 'udp' or 'tcp-syn'`);
  const vlan = spec.vlan === undefined ? null : intIn('vlan', spec.vlan, 0, 4095);
  let vlanPrio = 0;
  if (spec.vlanPrio !== undefined) {
    if (vlan === null) throw new RangeError('vlanPrio: needs vlan (use vlan: 0 for a priority-only tag)');
    vlanPrio = intIn('vlanPrio', spec.vlanPrio, 0, 7);
  }
  const hlen = headerLength(l3, l4, vlan !== null);
  const size = normSize(spec.size, hlen, l3, l4, vlan !== null);
  const smac = parseMac('srcMac', spec.srcMac ?? '02:00:00:00:00:01');
  const dmac = parseMac('dstMac', spec.dstMac ?? '02:00:00:00:00:02');
  const src = parseAddr('srcIp', spec.srcIp ?? (l3 === 'ipv4' ? '10.0.0.1' : 'fd00::1'), l3);
  const dst = parseAddr('dstIp', spec.dstIp ?? (l3 === 'ipv4' ? '10.0.0.2' : 'fd00::2'), l3);
  const srcPort = intIn('srcPort', spec.srcPort ?? 1024, 0, 65535);
  const dstPort = intIn('dstPort', spec.dstPort ?? 9, 0, 65535);
  const ttl = intIn('ttl', spec.ttl ?? 64, 0, 255);
  const seed = spec.seed === undefined ? 1 : spec.seed;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new RangeError(`seed: ${String(seed)} is not an integer`);
  let flows: number | undefined;
  if (spec.flows !== undefined) flows = intIn('flows', spec.flows, 1, MAX_FLOWS);

  const ranged = spec.srcIps !== undefined || spec.dstIps !== undefined || spec.srcPorts !== undefined || spec.dstPorts !== undefined;
  let srcPorts: number, dstPorts = 1, srcIps = 1, dstIps = 1, nflows: number;
  if (!ranged) {
    nflows = flows ?? 1;
    srcPorts = nflows;
    if (srcPort + nflows - 1 > 65535) {
      throw new RangeError(`flows: ${nflows} flows need source ports ${srcPort}..${srcPort + nflows - 1}, past 65535 (lower srcPort or give ranges)`);
    }
  } else {
    srcPorts = spec.srcPorts === undefined ? 1 : count('srcPorts', spec.srcPorts);
    dstPorts = spec.dstPorts === undefined ? 1 : count('dstPorts', spec.dstPorts);
    srcIps = spec.srcIps === undefined ? 1 : count('srcIps', spec.srcIps);
    dstIps = spec.dstIps === undefined ? 1 : count('dstIps', spec.dstIps);
    if (srcPort + srcPorts - 1 > 65535) throw new RangeError(`srcPorts: ports ${srcPort}..${srcPort + srcPorts - 1} run past 65535`);
    if (dstPort + dstPorts - 1 > 65535) throw new RangeError(`dstPorts: ports ${dstPort}..${dstPort + dstPorts - 1} run past 65535`);
    checkAddrRange('srcIps', src, srcIps);
    checkAddrRange('dstIps', dst, dstIps);
    const product = srcPorts * dstPorts * srcIps * dstIps;
    if (flows === undefined) {
      if (product > MAX_FLOWS) throw new RangeError(`flows: the ranges give ${product} flows, more than ${MAX_FLOWS} (give flows to use a prefix)`);
      nflows = product;
    } else {
      if (flows > product) throw new RangeError(`flows: ${flows} is more than the ${product} distinct flows the ranges give (srcPorts ${srcPorts} x dstPorts ${dstPorts} x srcIps ${srcIps} x dstIps ${dstIps})`);
      nflows = flows;
    }
  }
  const n: NormalTraffic = {
    l3, l4, size, flows: nflows,
    srcMac: macString(smac), dstMac: macString(dmac),
    srcIp: src.text, dstIp: dst.text, srcIps, dstIps,
    srcPort, dstPort, srcPorts, dstPorts,
    vlan, vlanPrio, ttl, seed,
  };
  return { n, src, dst, smac, dmac };
}

/* ------------------------------------------------------------------ */
/* Compilation                                                         */

export function compileTraffic(spec: TrafficSpec): CompiledTraffic {
  const { n, src, dst, smac, dmac } = normalise(spec);
  const is6 = n.l3 === 'ipv6';
  const tcp = n.l4 === 'tcp-syn';
  const proto: 6 | 17 = tcp ? 6 : 17;
  const l2 = ETH_HLEN + (n.vlan !== null ? VLAN_HLEN : 0);
  const l4off = l2 + (is6 ? IPV6_HLEN : IPV4_HLEN);
  const headerLen = l4off + (tcp ? TCP_HLEN : UDP_HLEN);
  const nflows = n.flows;
  const { srcPort, dstPort, srcPorts, dstPorts, srcIps } = n;
  const paysum = payloadSums(headerLen);

  const sizes = sizeSequence(n.size, n.seed);
  const distinctSizes = Int32Array.from(new Set(sizes)).sort();
  const minSize = distinctSizes[0]!;
  const maxSize = distinctSizes[distinctSizes.length - 1]!;

  /* The header template: every constant byte; the address fields hold the range bases. */
  const tpl = new Uint8Array(headerLen);
  tpl.set(dmac, 0);
  tpl.set(smac, 6);
  if (n.vlan !== null) {
    const tci = (n.vlanPrio << 13) | n.vlan;
    tpl[12] = 0x81; tpl[13] = 0x00; tpl[14] = tci >>> 8; tpl[15] = tci & 0xff;
  }
  tpl[l2 - 2] = is6 ? 0x86 : 0x08;
  tpl[l2 - 1] = is6 ? 0xdd : 0x00;
  const srcOff = l2 + (is6 ? 8 : 12);
  const dstOff = l2 + (is6 ? 24 : 16);
  const putWords = (o: number, w: number[]): void => {
    for (let k = 0; k < w.length; k++) { tpl[o + 2 * k] = w[k]! >>> 8; tpl[o + 2 * k + 1] = w[k]! & 0xff; }
  };
  putWords(srcOff, src.words);
  putWords(dstOff, dst.words);
  let ipConst = 0; /* IPv4 header sum without length and addresses */
  if (is6) {
    tpl[l2] = 0x60;
    tpl[l2 + 6] = proto;
    tpl[l2 + 7] = n.ttl;
  } else {
    tpl[l2] = 0x45;
    tpl[l2 + 6] = 0x40; /* DF */
    tpl[l2 + 8] = n.ttl;
    tpl[l2 + 9] = proto;
    ipConst = 0x4500 + 0x4000 + ((n.ttl << 8) | proto);
  }
  let l4Const = proto; /* pseudo-header protocol + constant L4 header words */
  if (tcp) {
    tpl[l4off + 12] = 0x50; /* data offset 5 */
    tpl[l4off + 13] = 0x02; /* SYN */
    tpl[l4off + 14] = TCP_SYN_WINDOW >>> 8;
    tpl[l4off + 15] = TCP_SYN_WINDOW & 0xff;
    l4Const += 0x5002 + TCP_SYN_WINDOW;
  }
  const srcW = Uint16Array.from(src.words);
  const dstW = Uint16Array.from(dst.words);
  const srcSum = src.words.reduce((a, b) => a + b, 0);
  const dstSum = dst.words.reduce((a, b) => a + b, 0);
  const src4 = is6 ? 0 : src.words[0]! * 65536 + src.words[1]!;
  const dst4 = is6 ? 0 : dst.words[0]! * 65536 + dst.words[1]!;

  /* Flow i in mixed radix: sport fastest, then dport, src address, dst address. */
  let fsp = 0, fdp = 0, fsi = 0, fdi = 0;
  const decompose = (i: number): void => {
    let q = i;
    fsp = q % srcPorts; q = (q - fsp) / srcPorts;
    fdp = q % dstPorts; q = (q - fdp) / dstPorts;
    fsi = q % srcIps; q = (q - fsi) / srcIps;
    fdi = q;
  };
  const checkFlow = (i: number): void => {
    if (!(i >= 0 && i < nflows && (i >>> 0) === i)) throw new RangeError(`flow ${String(i)}: not an integer in 0..${nflows - 1}`);
  };

  /* base + add (add < 2^21) in 16-bit words with carry, written over the
   * template's copy of base at out[o..]; returns the new sum of the words. */
  const add6 = (out: Uint8Array, o: number, base: Uint16Array, sum: number, add: number): number => {
    for (let w = 7; add !== 0 && w >= 0; w--) {
      const v = base[w]! + (add & 0xffff);
      add = (add >>> 16) + (v >>> 16);
      const nw = v & 0xffff;
      sum += nw - base[w]!;
      out[o + 2 * w] = nw >>> 8;
      out[o + 2 * w + 1] = nw;
    }
    return sum;
  };

  const writeHeaders = (i: number, size: number, out: Uint8Array, off: number): void => {
    checkFlow(i);
    if (!(size >= headerLen && size <= MAX_FRAME && (size | 0) === size)) {
      throw new RangeError(`size ${String(size)}: not an integer frame length in ${headerLen}..${MAX_FRAME}`);
    }
    if (!(off >= 0 && (off | 0) === off && off + size <= out.length)) {
      throw new RangeError(`offset ${String(off)}: a ${size}-byte frame does not fit a ${out.length}-byte buffer there`);
    }
    decompose(i);
    out.set(tpl, off);
    const sp = srcPort + fsp;
    const dp = dstPort + fdp;
    const l4len = size - l4off;
    let s: number;
    if (is6) {
      const plen = size - l2 - IPV6_HLEN;
      out[off + l2 + 4] = plen >>> 8;
      out[off + l2 + 5] = plen;
      s = add6(out, off + srcOff, srcW, srcSum, fsi) + add6(out, off + dstOff, dstW, dstSum, fdi);
    } else {
      const tot = size - l2;
      const sa = src4 + fsi;
      const da = dst4 + fdi;
      const o = off + l2;
      out[o + 2] = tot >>> 8;
      out[o + 3] = tot;
      out[o + 12] = sa >>> 24; out[o + 13] = sa >>> 16; out[o + 14] = sa >>> 8; out[o + 15] = sa;
      out[o + 16] = da >>> 24; out[o + 17] = da >>> 16; out[o + 18] = da >>> 8; out[o + 19] = da;
      s = (sa >>> 16) + (sa & 0xffff) + (da >>> 16) + (da & 0xffff);
      let h = ipConst + tot + s;
      h = (h & 0xffff) + (h >>> 16);
      h = (h & 0xffff) + (h >>> 16);
      h = ~h & 0xffff;
      out[o + 10] = h >>> 8;
      out[o + 11] = h;
    }
    const o4 = off + l4off;
    out[o4] = sp >>> 8; out[o4 + 1] = sp;
    out[o4 + 2] = dp >>> 8; out[o4 + 3] = dp;
    s += l4Const + l4len + sp + dp + paysum[size]!;
    let ckOff: number;
    if (tcp) {
      const seq = fmix32(Math.imul(i + 1, 0x9e3779b1));
      out[o4 + 4] = seq >>> 24; out[o4 + 5] = seq >>> 16; out[o4 + 6] = seq >>> 8; out[o4 + 7] = seq;
      s += (seq >>> 16) + (seq & 0xffff);
      ckOff = o4 + 16;
    } else {
      out[o4 + 4] = l4len >>> 8; out[o4 + 5] = l4len;
      s += l4len; /* the UDP length field (the pseudo-header's length was added above) */
      ckOff = o4 + 6;
    }
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    let ck = ~s & 0xffff;
    if (ck === 0 && !tcp) ck = 0xffff; /* UDP: 0 means "no checksum" */
    out[ckOff] = ck >>> 8;
    out[ckOff + 1] = ck;
  };

  const write = (i: number, size: number, out: Uint8Array, off: number): number => {
    checkFlow(i);
    if (!(size >= headerLen && size <= MAX_FRAME && (size | 0) === size)) {
      throw new RangeError(`size ${String(size)}: not an integer frame length in ${headerLen}..${MAX_FRAME}`);
    }
    if (!(off >= 0 && (off | 0) === off && off + size <= out.length)) {
      throw new RangeError(`offset ${String(off)}: a ${size}-byte frame does not fit a ${out.length}-byte buffer there`);
    }
    out.set(PATTERN.subarray(headerLen, size), off + headerLen);
    writeHeaders(i, size, out, off);
    return size;
  };

  const alen = is6 ? 16 : 4;
  /* src, dst, sport, dport of flow i (the RSS input order); the addresses of
   * the range bases are preset, add6 patches the words that change. */
  const tupleBase = new Uint8Array(2 * alen + 4);
  tupleBase.set(tpl.subarray(srcOff, srcOff + alen), 0);
  tupleBase.set(tpl.subarray(dstOff, dstOff + alen), alen);
  const scratch = new Uint8Array(2 * alen + 4);
  const tuple = (i: number): void => {
    checkFlow(i);
    decompose(i);
    scratch.set(tupleBase);
    if (is6) {
      add6(scratch, 0, srcW, 0, fsi);
      add6(scratch, 16, dstW, 0, fdi);
    } else {
      const sa = src4 + fsi, da = dst4 + fdi;
      scratch[0] = sa >>> 24; scratch[1] = sa >>> 16; scratch[2] = sa >>> 8; scratch[3] = sa;
      scratch[4] = da >>> 24; scratch[5] = da >>> 16; scratch[6] = da >>> 8; scratch[7] = da;
    }
    const sp = srcPort + fsp, dp = dstPort + fdp;
    scratch[2 * alen] = sp >>> 8; scratch[2 * alen + 1] = sp;
    scratch[2 * alen + 2] = dp >>> 8; scratch[2 * alen + 3] = dp;
  };

  return {
    spec: n,
    nflows,
    flow(i: number): Flow {
      tuple(i);
      return {
        src: scratch.slice(0, alen),
        dst: scratch.slice(alen, 2 * alen),
        sport: (scratch[2 * alen]! << 8) | scratch[2 * alen + 1]!,
        dport: (scratch[2 * alen + 2]! << 8) | scratch[2 * alen + 3]!,
        proto,
      };
    },
    rssHash(i: number): number {
      tuple(i);
      return rssTable(scratch, scratch.length);
    },
    sizes,
    distinctSizes,
    minSize,
    maxSize,
    headerLen,
    write,
    writeHeaders,
  };
}

/** Text of a flow's address (dotted quad or RFC 5952), for logs and tests. */
export function addressString(a: Uint8Array): string {
  if (a.length === 4) return ip4String(((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0);
  if (a.length === 16) return ip6String(Array.from({ length: 8 }, (_, k) => (a[2 * k]! << 8) | a[2 * k + 1]!));
  throw new RangeError(`addressString: ${a.length}-byte address`);
}
