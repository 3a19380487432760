/* Twin of ../doc_forward_map.c. */
import { BPF_MAP_TYPE_DEVMAP_HASH, bpfRedirectMap, defineMap, xdp } from 'xdpsim';
import { countIn, peerProg, verdictMap } from './common.ts';

export const verdicts = verdictMap();
export const peer_verdicts = verdictMap();
export const xdp_peer = peerProg(peer_verdicts);
export const forward_map = defineMap({ type: BPF_MAP_TYPE_DEVMAP_HASH, keySize: 4, valueSize: 8, maxEntries: 32 });

export const xdp_redirect_map_func = xdp((ctx) => countIn(verdicts, bpfRedirectMap(forward_map, ctx.ingress_ifindex, 0)));
