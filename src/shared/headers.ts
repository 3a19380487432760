/*
 * The walk through a frame's headers that RSS and the drop notes both
 * need: Ethernet, any 802.1Q/802.1ad tags, then IPv4 or IPv6, to where the
 * addresses and the TCP/UDP ports are. Writes offsets into `out`, so it
 * allocates nothing (the drop notes call it on a CPU).
 */
export const H_L3 = 0;        /* 4, 6, or 0: not IP (the rest is then unset) */
export const H_PROTO = 1;     /* IPv4 protocol / IPv6 next header */
export const H_ADDR = 2;      /* offset of the source address; the destination follows it */
export const H_ADDR_LEN = 3;  /* 4 or 16 */
export const H_L4 = 4;        /* offset of the transport header, -1 if none (an IPv4 fragment other than the first) */
export const H_MORE_FRAGS = 5; /* 1: an IPv4 fragment with more to come (the first carries the ports, RSS ignores them) */
export const H_WORDS = 6;

export function walkHeaders(b: Uint8Array, off: number, end: number, out: Int32Array): void {
  out[H_L3] = 0;
  let p = off + 12;
  if (p + 2 > end) return;
  let et = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  while ((et === 0x8100 || et === 0x88a8) && p + 4 <= end) {
    et = (b[p + 2]! << 8) | b[p + 3]!;
    p += 4;
  }
  if (et === 0x0800 && p + 20 <= end) {
    out[H_L3] = 4;
    out[H_PROTO] = b[p + 9]!;
    out[H_ADDR] = p + 12;
    out[H_ADDR_LEN] = 4;
    const fragOff = ((b[p + 6]! & 0x1f) << 8) | b[p + 7]!;
    out[H_L4] = fragOff === 0 ? p + (b[p]! & 15) * 4 : -1;
    out[H_MORE_FRAGS] = (b[p + 6]! & 0x20) !== 0 ? 1 : 0;
  } else if (et === 0x86dd && p + 40 <= end) {
    out[H_L3] = 6;
    out[H_PROTO] = b[p + 6]!;
    out[H_ADDR] = p + 8;
    out[H_ADDR_LEN] = 16;
    out[H_L4] = p + 40;
    out[H_MORE_FRAGS] = 0;
  }
}

/** Does the walked frame carry TCP or UDP ports within `end`? */
export function hasPorts(out: Int32Array, end: number): boolean {
  const proto = out[H_PROTO]!;
  return out[H_L3] !== 0 && (proto === 6 || proto === 17) && out[H_L4]! >= 0 && out[H_L4]! + 4 <= end;
}
