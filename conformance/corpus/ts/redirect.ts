/* Twin of ../redirect.c. */
import {
  BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, XDP_DROP, XDP_PASS, bpfMapLookupElem,
  bpfRedirect, bpfRedirectMap, bpfXdpAdjustHead, bpfXdpAdjustTail, defineMap, xdp,
} from 'xdpsim';
import { countIn, peerProg, udpSport, verdictMap } from './common.ts';

export const verdicts = verdictMap();
export const peer_verdicts = verdictMap();
export const dm_verdicts = verdictMap();
export const xdp_peer = peerProg(peer_verdicts);
export const cfg = defineMap({ type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 8 });
export const tx = defineMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 8, maxEntries: 8 });
export const txh = defineMap({ type: BPF_MAP_TYPE_DEVMAP_HASH, keySize: 4, valueSize: 8, maxEntries: 8 });

const cfgGet = (i: number): number => bpfMapLookupElem(cfg, i)?.getU32(0) ?? 0;

export const xdp_redir = xdp((ctx) => {
  const mode = cfgGet(0), key = cfgGet(1);
  let flags = cfgGet(3) * 2 ** 32 + cfgGet(2);
  if (cfgGet(7) & 1) {
    const port = udpSport(ctx);
    if (port >= 1000) flags = flags - (flags % 4) + ((flags % 4) | ((port - 1000) & 3));
  }
  if ((cfgGet(7) & 2) !== 0 && bpfXdpAdjustTail(ctx, 16) !== 0) return countIn(verdicts, XDP_DROP);
  if (mode === 0) return countIn(verdicts, bpfRedirectMap(tx, key, flags));
  if (mode === 1) return countIn(verdicts, bpfRedirectMap(txh, key, flags));
  return countIn(verdicts, bpfRedirect(cfgGet(4), flags));
});

export const dm_drop_egress = xdp.devmap((ctx) => countIn(dm_verdicts, ctx.egress_ifindex === cfgGet(5) ? XDP_DROP : XDP_PASS));

export const dm_sport_verdict = xdp.devmap((ctx) => {
  const port = udpSport(ctx);
  return countIn(dm_verdicts, port < 1000 ? XDP_PASS : port - 1000);
});

export const dm_mark = xdp.devmap((ctx) => {
  if (ctx.data + 14 > ctx.data_end) return countIn(dm_verdicts, XDP_DROP);
  ctx.pkt[ctx.data + 11] = ctx.egress_ifindex === cfgGet(5) ? 0xee : 0xdd;
  if (ctx.ingress_ifindex === cfgGet(6)) ctx.pkt[ctx.data + 10] = 0xaa;
  return countIn(dm_verdicts, XDP_PASS);
});

export const dm_trim = xdp.devmap((ctx) => countIn(dm_verdicts, bpfXdpAdjustTail(ctx, -4) !== 0 ? XDP_DROP : XDP_PASS));

export const dm_push4 = xdp.devmap((ctx) => {
  if (bpfXdpAdjustHead(ctx, -4) !== 0) return countIn(dm_verdicts, XDP_DROP);
  if (ctx.data + 4 > ctx.data_end) return countIn(dm_verdicts, XDP_DROP);
  ctx.pkt.fill(0x5a, ctx.data, ctx.data + 4);
  return countIn(dm_verdicts, XDP_PASS);
});
