/*
 * A small frame builder: Ethernet + IPv4 + UDP with valid checksums, and
 * the flow hash the traffic source spreads frames over RX queues with.
 * Rich load generation (IPv6, TCP, IMIX, pcap) is a later capability.
 * Pure functions: safe on every thread.
 */

export interface Udp4Spec {
  size: number;          /* frame length without FCS: 42 .. (buffer limit) */
  srcMac?: string;
  dstMac?: string;
  srcIp?: string;
  dstIp?: string;
  srcPort?: number;
  dstPort?: number;
  ttl?: number;
}

export const UDP4_MIN_FRAME = 14 + 20 + 8;

function mac(s: string): number[] {
  const p = s.split(':').map((x) => parseInt(x, 16));
  if (p.length !== 6 || p.some((x) => !(x >= 0 && x <= 255))) throw new RangeError(`bad MAC address '${s}'`);
  return p;
}

export function ipv4(s: string): number {
  const p = s.split('.').map((x) => Number(x));
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new RangeError(`bad IPv4 address '${s}'`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function ipv4String(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** The Internet checksum (RFC 1071) of b[from..to), starting from `sum`. */
export function csumPartial(b: Uint8Array, from: number, to: number, sum = 0): number {
  let i = from;
  for (; i + 1 < to; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < to) sum += b[i]! << 8;
  return sum;
}
export function csumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

/** Build one Ethernet/IPv4/UDP frame with valid IPv4 and UDP checksums. */
export function buildUdp4(spec: Udp4Spec): Uint8Array {
  const size = spec.size;
  if (!Number.isInteger(size) || size < UDP4_MIN_FRAME || size > 65535) {
    throw new RangeError(`frame size ${size}: must be an integer in ${UDP4_MIN_FRAME}..65535`);
  }
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  b.set(mac(spec.dstMac ?? '02:00:00:00:00:02'), 0);
  b.set(mac(spec.srcMac ?? '02:00:00:00:00:01'), 6);
  dv.setUint16(12, 0x0800);
  const ipLen = size - 14;
  const src = ipv4(spec.srcIp ?? '10.0.0.1');
  const dst = ipv4(spec.dstIp ?? '10.0.0.2');
  b[14] = 0x45;
  dv.setUint16(16, ipLen);
  dv.setUint16(18, 0);        /* id */
  dv.setUint16(20, 0x4000);   /* DF */
  b[22] = spec.ttl ?? 64;
  b[23] = 17;
  dv.setUint32(26, src);
  dv.setUint32(30, dst);
  dv.setUint16(24, csumFold(csumPartial(b, 14, 34)));
  const udpLen = ipLen - 20;
  dv.setUint16(34, spec.srcPort ?? 9);
  dv.setUint16(36, spec.dstPort ?? 9);
  dv.setUint16(38, udpLen);
  for (let i = 42; i < size; i++) b[i] = i & 0xff; /* a recognisable payload */
  let sum = csumPartial(b, 26, 34);           /* pseudo header: addresses */
  sum += 17 + udpLen;                          /* protocol, UDP length */
  sum = csumPartial(b, 34, 14 + ipLen, sum);
  let ck = csumFold(sum);
  if (ck === 0) ck = 0xffff;
  dv.setUint16(40, ck);
  return b;
}

/** A 32-bit hash of an IPv4 5-tuple: the RSS hash the traffic source uses to pick an RX queue. */
export function flowHash(src: number, dst: number, sport: number, dport: number, proto: number): number {
  let h = Math.imul(src ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ dst, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ ((sport << 16) | dport), 0x27d4eb2f);
  h ^= proto;
  h = Math.imul(h ^ (h >>> 15), 0x165667b1);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Verify the IPv4 header and UDP checksums of a frame built above (0 = both valid). */
export function checkUdp4(b: Uint8Array): { ip: boolean; udp: boolean } {
  const ip = csumFold(csumPartial(b, 14, 34)) === 0;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const udpLen = dv.getUint16(38);
  let sum = csumPartial(b, 26, 34);
  sum += 17 + udpLen;
  sum = csumPartial(b, 34, 34 + udpLen, sum);
  return { ip, udp: csumFold(sum) === 0 };
}
