/*
 * Hand-written TypeScript twins of the corpus's C programs (`npm run
 * conformance -- --twins` runs the xdpsim half with them instead of the
 * compiled objects): the same maps, programs and behaviour as
 * ../common.h, for telling a translation problem from a model one.
 * Each twin defines its own maps (a map definition belongs to one object).
 */
import { BPF_MAP_TYPE_ARRAY, XDP_PASS, bpfMapLookupElem, defineMap, xdp, type MapDef, type XdpMd } from 'xdpsim';

export const verdictMap = (): MapDef => defineMap({ type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 8 });

/** count_in(): counts act (7 for 7 and above) and returns it. */
export function countIn(map: MapDef, act: number): number {
  const k = act >>> 0 < 7 ? act >>> 0 : 7;
  bpfMapLookupElem(map, k)?.atomicAddU64(0, 1);
  return act;
}

/** udp_sport(): the UDP source port of an Ethernet/IPv4/UDP frame, -1 if shorter than 42 bytes. */
export function udpSport(ctx: XdpMd): number {
  if (ctx.data + 42 > ctx.data_end) return -1;
  return (ctx.pkt[ctx.data + 34]! << 8) | ctx.pkt[ctx.data + 35]!;
}

export const peerProg = (peerVerdicts: MapDef) => xdp(() => countIn(peerVerdicts, XDP_PASS));
