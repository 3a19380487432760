/*
 * Documentation/bpf/map_devmap.rst, "Kernel BPF": the tx_port DEVMAP and
 * xdp_redirect_map_func, which redirects using the ingress ifindex as the
 * key, broadcasting to every device in the map but the ingress one.
 *
 *   struct {
 *       __uint(type, BPF_MAP_TYPE_DEVMAP);
 *       __type(key, __u32);
 *       __type(value, __u32);
 *       __uint(max_entries, 256);
 *   } tx_port SEC(".maps");
 *
 *   SEC("xdp")
 *   int xdp_redirect_map_func(struct xdp_md *ctx)
 *   {
 *       int index = ctx->ingress_ifindex;
 *
 *       return bpf_redirect_map(&tx_port, index, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
 *   }
 */
import { BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, BPF_MAP_TYPE_DEVMAP, bpfRedirectMap, defineMap, xdp } from 'xdpsim';

export const tx_port = defineMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 4, maxEntries: 256 });

export const xdp_redirect_map_func = xdp((ctx) => {
  const index = ctx.ingress_ifindex;

  return bpfRedirectMap(tx_port, index, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
});
