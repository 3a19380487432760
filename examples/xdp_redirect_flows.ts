/*
 * Spreads flows over the devices of a DEVMAP: key = UDP source port %
 * nports (nports in cfg[0]); a frame whose entry is missing is dropped
 * (the XDP_DROP in the low bits of flags). The redirect demo's program.
 */
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP, ETH_HLEN, XDP_DROP, bpfMapLookupElem, bpfRedirectMap, defineMap, xdp } from 'xdpsim';

export const tx_ports = defineMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 4, maxEntries: 64 });
export const cfg = defineMap({ type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });

export const xdp_redirect_flows = xdp((ctx) => {
  /* Ethernet, IPv4 without options, UDP: the source port is at 34 */
  if (ctx.data + ETH_HLEN + 20 + 8 > ctx.data_end) return XDP_DROP;
  const nports = bpfMapLookupElem(cfg, 0)!.getU32(0) || 1;
  const sport = ctx.dv.getUint16(ctx.data + 34, false);
  return bpfRedirectMap(tx_ports, sport % nports, XDP_DROP);
});
