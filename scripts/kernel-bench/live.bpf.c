// SPDX-License-Identifier: GPL-2.0
/*
 * XDP programs of the kernel side-by-side benchmark (see README.md here).
 * The four programs under test are run by BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES (live.c); the two sinks are attached in
 * driver mode to the peers that the frames land on and drop, as xdpsim's
 * bench sinks do (bench_sink_drop): the runner checks that the frames
 * arrived from the peers' receive counters (veth counts the XDP frames its
 * NAPI ran in rx_packets), so the sinks cost no more than a drop.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

/* set by the loader before load: the ifindex of out0 */
const volatile __u32 out_ifindex = 0;

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

SEC("xdp")
int bench_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int bench_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 *p = data;
	__u16 t0, t1, t2;

	if (data + ETH_HLEN > data_end)
		return XDP_DROP;
	/* swap the destination and source MAC addresses */
	t0 = p[0]; t1 = p[1]; t2 = p[2];
	p[0] = p[3]; p[1] = p[4]; p[2] = p[5];
	p[3] = t0; p[4] = t1; p[5] = t2;
	return XDP_TX;
}

SEC("xdp")
int bench_redirect(struct xdp_md *ctx)
{
	return bpf_redirect(out_ifindex, 0);
}

SEC("xdp")
int bench_redirect_map(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_port, 0, 0);
}

SEC("xdp")
int sink_in(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int sink_out(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
