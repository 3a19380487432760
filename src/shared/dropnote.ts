/*
 * The last dropped frame of each drop reason, per CPU: which device, when,
 * and its flow (addresses, ports, protocol), so that "why were frames
 * dropped" can point at a packet and not only at a count.
 *
 * Cost on the hot path: each reason has an armed bit; a CPU notes the
 * first drop of a reason while its bit is set and clears it; every
 * DROP_NOTE_POLLS NAPI polls, and when the CPU goes idle, all bits are set
 * again (so a rare reason is always noted, and a frequent one about every
 * 64 polls, at most 4096 frames old with the default budget). Any other
 * drop pays one load and a test. Noting parses the frame's headers (Ethernet, 802.1Q, IPv4 or
 * IPv6, TCP or UDP ports) before the frame is freed, and reads the clock:
 * done once per poll it would cost a drop ~5 ns, as measured.
 *
 * Layout, per CPU: an Int32Array of N_WORDS per reason, written by that
 * CPU only, as a seqlock ([0] odd while being written). Every word is
 * written and read with Atomics, so the sequence orders them on any memory
 * model (noting is rare: the cost does not matter).
 */
import { DROP_REASONS } from './counters.ts';
import { H_ADDR, H_ADDR_LEN, H_L3, H_L4, H_PROTO, H_WORDS, hasPorts, walkHeaders } from './headers.ts';

/** polls between two notes of the same reason on a CPU (a power of two) */
export const DROP_NOTE_POLLS = 64;

export const N_WORDS = 18;
const N_SEQ = 0;
const N_IFINDEX = 1;
const N_L3 = 3;      /* 4, 6, or 0 (not IP) */
const N_PROTO = 4;
const N_SPORT = 5;   /* -1: no ports */
const N_DPORT = 6;
const N_LEN = 7;
const N_SRC = 8;     /* 4 words: IPv4 in the first, IPv6 in all four (network order, big-endian words) */
const N_DST = 12;
const N_TS_HI = 16;  /* the time in ns: hi * 2^32 + lo */
const N_TS_LO = 17;

export function dropNoteBytes(): number {
  return DROP_REASONS.length * 4 * N_WORDS;
}

export interface DropFlow {
  l3: 'ipv4' | 'ipv6' | 'other';
  src: string;
  dst: string;
  proto: number;
  sport: number | null;
  dport: number | null;
}

export interface DropNote {
  reason: string;
  cpu: number;
  ifindex: number;
  /** ns on the runtime's clock (rt.ktimeNs()) */
  ts: number;
  len: number;
  flow: DropFlow;
}

/** The CPU's side. */
export class DropNoteWriter {
  private readonly w: Int32Array;
  private readonly scratch = new Int32Array(N_WORDS);
  private readonly hdr = new Int32Array(H_WORDS);

  constructor(sab: SharedArrayBuffer, private readonly clock: () => number) {
    this.w = new Int32Array(sab, 0, DROP_REASONS.length * N_WORDS);
  }

  /** Note frame bytes b[off..off+len) dropped with `reason` on `ifindex` (the CPU calls it once per reason per poll at most). */
  note(reason: number, ifindex: number, b: Uint8Array, off: number, len: number, totalLen: number): void {
    const w = this.scratch;
    w.fill(0);
    w[N_IFINDEX] = ifindex;
    w[N_LEN] = totalLen;
    w[N_SPORT] = -1;
    w[N_DPORT] = -1;
    const end = off + len;
    const h = this.hdr;
    walkHeaders(b, off, end, h);
    if (h[H_L3] !== 0) {
      w[N_L3] = h[H_L3]!;
      w[N_PROTO] = h[H_PROTO]!;
      const a = h[H_ADDR]!;
      const words = h[H_ADDR_LEN]! >> 2;
      for (let i = 0; i < words; i++) {
        w[N_SRC + i] = be32(b, a + 4 * i);
        w[N_DST + i] = be32(b, a + 4 * (words + i));
      }
      if (hasPorts(h, end)) {
        const l4 = h[H_L4]!;
        w[N_SPORT] = (b[l4]! << 8) | b[l4 + 1]!;
        w[N_DPORT] = (b[l4 + 2]! << 8) | b[l4 + 3]!;
      }
    }
    const ts = this.clock();
    w[N_TS_HI] = Math.floor(ts / 4294967296);
    w[N_TS_LO] = ts % 4294967296;
    const sh = this.w;
    const o = reason * N_WORDS;
    const seq = sh[o + N_SEQ]!;
    Atomics.store(sh, o + N_SEQ, seq + 1);
    for (let i = 1; i < N_WORDS; i++) Atomics.store(sh, o + i, w[i]!);
    Atomics.store(sh, o + N_SEQ, seq + 2);
  }
}

function be32(b: Uint8Array, q: number): number {
  return (b[q]! << 24) | (b[q + 1]! << 16) | (b[q + 2]! << 8) | b[q + 3]!;
}

function ipString(l3: number, a: Int32Array, o: number): string {
  if (l3 === 4) {
    const v = a[o]! >>> 0;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  if (l3 !== 6) return '';
  const groups: string[] = [];
  for (let i = 0; i < 4; i++) {
    const v = a[o + i]! >>> 0;
    groups.push((v >>> 16).toString(16), (v & 0xffff).toString(16));
  }
  /* the longest run of zero groups becomes '::' (RFC 5952) */
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** The reader's side: the notes of one CPU (a consistent copy of each, or none if it is being written). */
export function readDropNotes(sab: SharedArrayBuffer, cpu: number): DropNote[] {
  const w = new Int32Array(sab, 0, DROP_REASONS.length * N_WORDS);
  const out: DropNote[] = [];
  const copy = new Int32Array(N_WORDS);
  for (let r = 0; r < DROP_REASONS.length; r++) {
    const o = r * N_WORDS;
    /* a note is written in a few hundred ns: retry a while, then leave the reason out of this reading */
    for (let attempt = 0; attempt < 1000; attempt++) {
      const s1 = Atomics.load(w, o + N_SEQ);
      if ((s1 & 1) !== 0) continue;
      for (let i = 0; i < N_WORDS; i++) copy[i] = Atomics.load(w, o + i);
      if (Atomics.load(w, o + N_SEQ) !== s1) continue;
      const t = (copy[N_TS_HI]! >>> 0) * 4294967296 + (copy[N_TS_LO]! >>> 0);
      if (s1 === 0) break; /* never written */
      const l3 = copy[N_L3]!;
      out.push({
        reason: DROP_REASONS[r]!, cpu, ifindex: copy[N_IFINDEX]!, ts: t, len: copy[N_LEN]!,
        flow: {
          l3: l3 === 4 ? 'ipv4' : l3 === 6 ? 'ipv6' : 'other',
          src: ipString(l3, copy, N_SRC), dst: ipString(l3, copy, N_DST), proto: copy[N_PROTO]!,
          sport: copy[N_SPORT]! < 0 ? null : copy[N_SPORT]!, dport: copy[N_DPORT]! < 0 ? null : copy[N_DPORT]!,
        },
      });
      break;
    }
  }
  return out;
}

/** "10.0.0.1:1024 -> 10.0.0.2:9 udp" */
export function flowString(f: DropFlow): string {
  if (f.l3 === 'other') return '(not IP)';
  const p = f.proto === 17 ? 'udp' : f.proto === 6 ? 'tcp' : `proto ${f.proto}`;
  const host = (a: string, port: number | null): string => (port === null ? a : f.l3 === 'ipv6' ? `[${a}]:${port}` : `${a}:${port}`);
  return `${host(f.src, f.sport)} -> ${host(f.dst, f.dport)} ${p}`;
}
