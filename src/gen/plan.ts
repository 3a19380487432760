/*
 * Planning a generator run on the control plane: which flows (or replayed
 * packets) each RX queue of the device carries, and each queue's share of
 * the count and the rate. The CPUs then generate on their own queues
 * (src/cpu/wiregen.ts).
 *
 * RSS as a NIC does it: the Toeplitz hash of the flow's addresses and ports
 * under the default key, looked up in a 128-entry indirection table filled
 * round-robin over the queues (ethtool's default: entry i -> queue i % n).
 */
import { compileTraffic, RSS_DEFAULT_KEY, toeplitzHash, type CompiledTraffic, type TrafficSpec } from './packets.ts';
import type { CaptureFile } from './pcap.ts';
import { H_ADDR, H_ADDR_LEN, H_L3, H_L4, H_MORE_FRAGS, H_WORDS, hasPorts, walkHeaders } from '../shared/headers.ts';
import type { ReplayShared } from '../cpu/wiregen.ts';

export const RSS_INDIR_SIZE = 128;

/** RX queue of a flow hash, through the default indirection table. */
export function rssQueue(hash: number, nq: number): number {
  return ((hash >>> 0) % RSS_INDIR_SIZE) % nq;
}

/** Split `total` over shares proportionally (largest remainder), exactly. */
export function splitExact(total: number, shares: number[]): number[] {
  const sum = shares.reduce((a, b) => a + b, 0);
  if (sum === 0) return shares.map(() => 0);
  const raw = shares.map((s) => (total * s) / sum);
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; left > 0; k++, left--) out[order[k % order.length]![1]]!++;
  return out;
}

/** Flows of each of nq queues (or all on `pinned`). */
export function flowsByQueue(tr: CompiledTraffic, nq: number, pinned?: number): Int32Array[] {
  const lists: number[][] = Array.from({ length: nq }, () => []);
  for (let i = 0; i < tr.nflows; i++) lists[pinned ?? rssQueue(tr.rssHash(i), nq)]!.push(i);
  return lists.map((l) => Int32Array.from(l));
}

/** The RSS input of an Ethernet frame: IPv4/IPv6 addresses and TCP/UDP ports, or null (queue 0). */
export function frameRssHash(b: Uint8Array): number {
  const h = new Int32Array(H_WORDS);
  walkHeaders(b, 0, b.length, h);
  if (h[H_L3] === 0) return 0;
  const addrs = b.subarray(h[H_ADDR]!, h[H_ADDR]! + 2 * h[H_ADDR_LEN]!);
  /* a fragment (even the first) is hashed by its addresses only, as RSS does */
  if (hasPorts(h, b.length) && h[H_MORE_FRAGS] === 0) {
    const input = new Uint8Array(addrs.length + 4);
    input.set(addrs, 0);
    input.set(b.subarray(h[H_L4]!, h[H_L4]! + 4), addrs.length);
    return toeplitzHash(RSS_DEFAULT_KEY, input);
  }
  return toeplitzHash(RSS_DEFAULT_KEY, addrs);
}

/** A capture in shared memory for the CPUs, and each queue's packets. */
export function shareCapture(cap: CaptureFile, nq: number, pinned?: number): { replay: ReplayShared; byQueue: Int32Array[] } {
  const n = cap.packets.length;
  let bytes = 0;
  for (const p of cap.packets) bytes += p.data.length;
  const sab = new SharedArrayBuffer(Math.max(bytes, 1));
  const u8 = new Uint8Array(sab);
  const off = new Int32Array(new SharedArrayBuffer(4 * Math.max(n, 1)));
  const len = new Int32Array(new SharedArrayBuffer(4 * Math.max(n, 1)));
  const ts = new Float64Array(new SharedArrayBuffer(8 * Math.max(n, 1)));
  const t0 = n > 0 ? cap.packets[0]!.tsNs : 0n;
  const lists: number[][] = Array.from({ length: nq }, () => []);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const p = cap.packets[i]!;
    u8.set(p.data, o);
    off[i] = o;
    len[i] = p.data.length;
    /* a capture need not be in time order: a packet earlier than the first one goes at once */
    const rel = Number(p.tsNs - t0);
    ts[i] = rel > 0 ? rel : 0;
    o += p.data.length;
    lists[pinned ?? rssQueue(frameRssHash(p.data), nq)]!.push(i);
  }
  let last = 0;
  for (let i = 0; i < n; i++) if (ts[i]! > last) last = ts[i]!;
  const spanNs = n > 1 ? last + last / (n - 1) : 0;
  return { replay: { bytes: sab, off, len, tsNs: ts, spanNs }, byQueue: lists.map((l) => Int32Array.from(l)) };
}

export { compileTraffic, type TrafficSpec };
