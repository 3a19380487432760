/*
 * The program `xdpsim torture` runs: each frame is redirected by its flow
 * (UDP source port % cfg[1]) through the DEVMAP tx or the DEVMAP_HASH txh
 * (by the port's bit 4 when cfg[0] is 0; always tx when 1; always txh when
 * 2), dropping on a lookup miss. devmap_a and devmap_b are the devmap
 * programs the writers swap into entries.
 */
import {
  BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, ETH_HLEN, XDP_DROP, XDP_PASS,
  bpfMapLookupElem, bpfRedirectMap, defineMap, xdp,
} from 'xdpsim';

export const tx = defineMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 8, maxEntries: 64 });
export const txh = defineMap({ type: BPF_MAP_TYPE_DEVMAP_HASH, keySize: 4, valueSize: 8, maxEntries: 64 });
export const cfg = defineMap({ type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2 });

export const xdp_torture = xdp((ctx) => {
  if (ctx.data + ETH_HLEN + 28 > ctx.data_end) return XDP_DROP;
  const port = ctx.dv.getUint16(ctx.data + 34, false);
  const keys = bpfMapLookupElem(cfg, 1)!.getU32(0) || 1;
  const mode = bpfMapLookupElem(cfg, 0)!.getU32(0);
  const hash = mode === 2 || (mode === 0 && (port & 16) !== 0);
  return bpfRedirectMap(hash ? txh : tx, port % keys, XDP_DROP);
});

export const devmap_a = xdp.devmap(() => XDP_PASS);

export const devmap_b = xdp.devmap((ctx) => {
  if (ctx.data + ETH_HLEN <= ctx.data_end) ctx.pkt[ctx.data + 11] = ctx.egress_ifindex & 0xff;
  return XDP_PASS;
});
