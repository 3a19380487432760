// SPDX-License-Identifier: GPL-2.0
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct cfg { __u32 mode; __u32 key; __u64 flags; __u32 ifindex; __u32 pad; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct cfg); } cfgm SEC(".maps");
/* res[0]=last retval, res[1]=runs of redirect prog, res[2+ifindex%60]=frames seen by rx prog per ingress ifindex */
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } res SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_DEVMAP); __uint(max_entries, 8); __type(key, __u32); __type(value, struct bpf_devmap_val); } tx SEC(".maps");

SEC("xdp")
int xdp_redir(struct xdp_md *ctx)
{
	__u32 k0 = 0, k1 = 1;
	struct cfg *c = bpf_map_lookup_elem(&cfgm, &k0);
	__u64 *r = bpf_map_lookup_elem(&res, &k0);
	__u64 *n = bpf_map_lookup_elem(&res, &k1);
	long ret;
	if (!c || !r || !n)
		return XDP_PASS;
	if (c->mode == 0)
		ret = bpf_redirect_map(&tx, c->key, c->flags);
	else if (c->mode == 1)
		ret = bpf_redirect(c->ifindex, 0);
	else
		ret = XDP_PASS;
	*r = ret;
	__sync_fetch_and_add(n, 1);
	return ret;
}

SEC("xdp")
int xdp_rx(struct xdp_md *ctx)
{
	__u32 k = 2 + (ctx->ingress_ifindex % 60);
	__u64 *n = bpf_map_lookup_elem(&res, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_DROP;
}

SEC("xdp/devmap")
int xdp_dm(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdp_plain(struct xdp_md *ctx)
{
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
