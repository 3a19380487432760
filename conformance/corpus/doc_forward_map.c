/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Documentation/bpf/map_devmap.rst, first example: a DEVMAP_HASH named
 * forward_map (value struct bpf_devmap_val, 32 entries) that user space fills
 * by ingress ifindex, and a program that redirects by the ingress ifindex
 * with no flags (a lookup miss is XDP_ABORTED).
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
	__uint(max_entries, 32);
} forward_map SEC(".maps");

SEC("xdp")
int xdp_redirect_map_func(struct xdp_md *ctx)
{
	int index = ctx->ingress_ifindex;

	return verdict(bpf_redirect_map(&forward_map, index, 0));
}
