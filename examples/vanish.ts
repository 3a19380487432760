/*
 * The program of examples/scenarios/vanish.ts: each ingress device has a
 * row in `how` (keyed by its ifindex): [0] the DEVMAP key to redirect to,
 * [1] the flags of bpf_redirect_map. A frame goes out by `out_ports`
 * (value: struct bpf_devmap_val, so an entry can carry a devmap program);
 * `egress_drop` is such a program, dropping everything.
 */
import { BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_HASH, XDP_ABORTED, XDP_DROP, bpfMapLookupElem, bpfRedirectMap, defineMap, xdp } from 'xdpsim';

export const out_ports = defineMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 8, maxEntries: 16 });
export const how = defineMap({ type: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 64 });

export const xdp_vanish = xdp((ctx) => {
  const h = bpfMapLookupElem(how, ctx.ingress_ifindex);
  if (h === null) return XDP_ABORTED;
  return bpfRedirectMap(out_ports, h.getU32(0), h.getU32(4));
});

export const egress_drop = xdp.devmap(() => XDP_DROP);
