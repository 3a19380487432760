/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the conformance corpus (conformance/cases.ts says which case uses
 * which object). Every program counts its return value in an ARRAY map indexed
 * by the action (values 7 and above share slot 7), so the verdicts are part
 * of the map contents both halves compare:
 *   verdicts     the ingress program's
 *   peer_verdicts xdp_peer's: the program on the peers that receive redirected frames
 *   dm_verdicts  the devmap programs'
 * xdp_peer makes a veth able to receive redirected frames (a veth transmits
 * XDP frames only while its peer has a program) and hands them to the stack,
 * where the harness captures them.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

#define VERDICT_MAP(name)                                   \
	struct {                                            \
		__uint(type, BPF_MAP_TYPE_ARRAY);           \
		__uint(max_entries, 8);                     \
		__type(key, __u32);                         \
		__type(value, __u64);                       \
	} name SEC(".maps")

VERDICT_MAP(verdicts);
VERDICT_MAP(peer_verdicts);

static __always_inline int count_in(void *map, int act)
{
	__u32 k = (__u32)act < 7 ? (__u32)act : 7;
	__u64 *v = bpf_map_lookup_elem(map, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
	return act;
}

#define verdict(act) count_in(&verdicts, (act))

/* The UDP source port of an Ethernet/IPv4 (no options)/UDP frame; -1 if the frame is shorter. */
static __always_inline int udp_sport(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;

	if (data + 42 > end)
		return -1;
	return (data[34] << 8) | data[35];
}

SEC("xdp")
int xdp_peer(struct xdp_md *ctx)
{
	return count_in(&peer_verdicts, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
