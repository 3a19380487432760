/* Twin of ../doc_broadcast.c. */
import { BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, BPF_MAP_TYPE_DEVMAP, bpfRedirectMap, defineMap, xdp } from 'xdpsim';
import { countIn, peerProg, verdictMap } from './common.ts';

export const verdicts = verdictMap();
export const peer_verdicts = verdictMap();
export const xdp_peer = peerProg(peer_verdicts);
export const tx_port = defineMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 4, maxEntries: 256 });

export const xdp_redirect_map_func = xdp((ctx) =>
  countIn(verdicts, bpfRedirectMap(tx_port, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)));
