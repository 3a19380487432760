/*
 * Twin of ../past_data_end.c: reads the byte after its bounds check. The
 * kernel's verifier refuses the C program; a TypeScript program has no
 * verifier, so this twin loads (and reads a byte that is there).
 */
import { XDP_DROP, XDP_PASS, xdp } from 'xdpsim';
import { countIn, peerProg, verdictMap } from './common.ts';

export const verdicts = verdictMap();
export const peer_verdicts = verdictMap();
export const xdp_peer = peerProg(peer_verdicts);

export const xdp_past_end = xdp((ctx) => {
  if (ctx.data + 14 > ctx.data_end) return countIn(verdicts, XDP_DROP);
  return countIn(verdicts, ctx.pkt[ctx.data + 14] === 0x45 ? XDP_PASS : XDP_DROP);
});
