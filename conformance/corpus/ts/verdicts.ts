/* Twin of ../verdicts.c. */
import { XDP_PASS, xdp } from 'xdpsim';
import { countIn, peerProg, udpSport, verdictMap } from './common.ts';

export const verdicts = verdictMap();
export const peer_verdicts = verdictMap();
export const xdp_peer = peerProg(peer_verdicts);

export const xdp_verdict = xdp((ctx) => {
  const port = udpSport(ctx);
  return countIn(verdicts, port < 1000 ? XDP_PASS : port - 1000);
});
