/* Twin of ../adjust.c. */
import {
  BPF_MAP_TYPE_ARRAY, XDP_PASS, bpfMapLookupElem, bpfXdpAdjustHead, bpfXdpAdjustMeta, bpfXdpAdjustTail, defineMap, xdp,
} from 'xdpsim';
import { countIn, peerProg, udpSport, verdictMap } from './common.ts';

export const verdicts = verdictMap();
export const peer_verdicts = verdictMap();
export const xdp_peer = peerProg(peer_verdicts);
export const results = defineMap({ type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 16 });

export const xdp_adjust = xdp((ctx) => {
  const port = udpSport(ctx);
  const len = ctx.data_end - ctx.data;
  if (port < 1000 || port >= 1016) return countIn(verdicts, XDP_PASS);
  const op = port - 1000;
  let r = -1000;
  switch (op) {
    case 0:
      r = bpfXdpAdjustHead(ctx, -216);
      if (r === 0) bpfXdpAdjustHead(ctx, 216);
      break;
    case 1: r = bpfXdpAdjustHead(ctx, -217); break;
    case 2: r = bpfXdpAdjustHead(ctx, 14); break;
    case 3: {
      r = bpfXdpAdjustHead(ctx, -14);
      const d = ctx.data, p = ctx.pkt;
      if (r === 0 && d + 28 <= ctx.data_end) {
        for (let i = 0; i < 6; i++) {
          p[d + i] = p[d + 14 + 6 + i]!;
          p[d + 6 + i] = p[d + 14 + i]!;
        }
        p[d + 12] = 0x88;
        p[d + 13] = 0xb5;
      }
      break;
    }
    case 4: r = bpfXdpAdjustHead(ctx, len - 14); break;
    case 5: r = bpfXdpAdjustHead(ctx, len - 13); break;
    case 6: r = bpfXdpAdjustTail(ctx, -4); break;
    case 7: r = bpfXdpAdjustTail(ctx, -(len - 14)); break;
    case 8: r = bpfXdpAdjustTail(ctx, -(len - 13)); break;
    case 9: r = bpfXdpAdjustTail(ctx, 2006); break;
    case 10: r = bpfXdpAdjustTail(ctx, 2007); break;
    case 11: r = bpfXdpAdjustTail(ctx, 16); break;
    case 12: r = bpfXdpAdjustMeta(ctx, -4); break;
    case 13: r = bpfXdpAdjustMeta(ctx, -6); break;
    case 14: r = bpfXdpAdjustMeta(ctx, -220); break;
    case 15:
      r = bpfXdpAdjustMeta(ctx, -32);
      if (r === 0) r = bpfXdpAdjustHead(ctx, -185);
      break;
  }
  const slot = bpfMapLookupElem(results, op);
  if (slot) slot.view.setBigInt64(0, BigInt(r), true);
  return countIn(verdicts, XDP_PASS);
});
