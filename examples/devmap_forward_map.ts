/*
 * Documentation/bpf/map_devmap.rst: the forward_map DEVMAP_HASH whose value
 * is a struct bpf_devmap_val { __u32 ifindex; union { int fd; __u32 id; } bpf_prog; }.
 *
 *   struct {
 *       __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
 *       __type(key, __u32);
 *       __type(value, struct bpf_devmap_val);
 *       __uint(max_entries, 32);
 *   } forward_map SEC(".maps");
 *
 * The document declares the map only; xdp_redirect_hash_func forwards by
 * the ingress ifindex, passing frames with no entry (the lookup-miss
 * verdict in the low bits of flags), and xdp_devmap_mark is a devmap
 * program an entry may carry: it runs at egress and sees egress_ifindex.
 */
import { BPF_MAP_TYPE_DEVMAP_HASH, XDP_PASS, bpfRedirectMap, defineMap, xdp } from 'xdpsim';

export const forward_map = defineMap({ type: BPF_MAP_TYPE_DEVMAP_HASH, keySize: 4, valueSize: 8, maxEntries: 32 });

export const xdp_redirect_hash_func = xdp((ctx) => bpfRedirectMap(forward_map, ctx.ingress_ifindex, XDP_PASS));

/* Writes the egress ifindex into the source MAC's last byte, so a capture shows the way out. */
export const xdp_devmap_mark = xdp.devmap((ctx) => {
  if (ctx.data + 14 > ctx.data_end) return XDP_PASS;
  ctx.pkt[ctx.data + 11] = ctx.egress_ifindex & 0xff;
  return XDP_PASS;
});
