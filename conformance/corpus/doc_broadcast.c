/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Documentation/bpf/map_devmap.rst, second example: a DEVMAP named tx_port
 * (value an ifindex, 256 entries) and a program that broadcasts every frame
 * to all its devices but the ingress one.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 256);
} tx_port SEC(".maps");

SEC("xdp")
int xdp_redirect_map_func(struct xdp_md *ctx)
{
	return verdict(bpf_redirect_map(&tx_port, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS));
}
