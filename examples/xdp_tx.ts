/* Swaps the Ethernet addresses and sends the frame back out (XDP_TX), as xdp-bench tx does. */
import { ETH_HLEN, XDP_ABORTED, XDP_TX, xdp } from 'xdpsim';

export const xdp_tx = xdp((ctx) => {
  const p = ctx.pkt;
  const d = ctx.data;
  if (d + ETH_HLEN > ctx.data_end) return XDP_ABORTED;
  for (let i = 0; i < 6; i++) {
    const t = p[d + i]!;
    p[d + i] = p[d + 6 + i]!;
    p[d + 6 + i] = t;
  }
  return XDP_TX;
});
