/*
 * The programs of `xdpsim bench` (src/bench/xdp_bench.ts) in C, for
 * measuring clang-compiled objects against the TypeScript ones:
 *
 *   clang -O2 -g -target bpf -I/usr/include/$(gcc -dumpmachine) \
 *         -c examples/bpf/xdp_bench.c -o /tmp/xdp_bench.o
 *   xdpsim bench drop -p parse-ip --prog /tmp/xdp_bench.o
 *
 * After xdp-tools' xdp-bench (xdp_basic.bpf.c, xdp_redirect_*.bpf.c): one
 * program per action and packet operation.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} tx_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 8);
} forward_map SEC(".maps");

/* read-data: the EtherType; the verdict only if the frame has an Ethernet header */
static __always_inline int read_data(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 0;
	return eth->h_proto != 0;
}

/* parse-ip: Ethernet, then IPv4 or IPv6; touches the source address */
static __always_inline int parse_ip(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return 0;
		return ip->saddr != 0xffffffff;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(&ip6->saddr) + 4 > data_end)
			return 0;
		return ip6->saddr.s6_addr32[0] != 0xffffffff;
	}
	return 1;
}

/* swap-macs: 6 bytes each way */
static __always_inline int swap_macs(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 *p = data;
	__u16 t0, t1, t2;

	if (data + 14 > data_end)
		return 0;
	t0 = p[0]; t1 = p[1]; t2 = p[2];
	p[0] = p[3]; p[1] = p[4]; p[2] = p[5];
	p[3] = t0; p[4] = t1; p[5] = t2;
	return 1;
}

#define VERDICTS(act, ACT)                                                                     \
	SEC("xdp") int bench_##act(struct xdp_md *ctx) { return ACT; }                         \
	SEC("xdp") int bench_##act##_read(struct xdp_md *ctx) { return read_data(ctx) ? ACT : XDP_ABORTED; } \
	SEC("xdp") int bench_##act##_parse(struct xdp_md *ctx) { return parse_ip(ctx) ? ACT : XDP_ABORTED; } \
	SEC("xdp") int bench_##act##_swap(struct xdp_md *ctx) { return swap_macs(ctx) ? ACT : XDP_ABORTED; }

VERDICTS(drop, XDP_DROP)
VERDICTS(pass, XDP_PASS)
VERDICTS(tx, XDP_TX)

static __always_inline int redirect_cfg(void)
{
	__u32 k = 0;
	__u32 *ifindex = bpf_map_lookup_elem(&cfg, &k);

	return ifindex ? bpf_redirect(*ifindex, 0) : XDP_ABORTED;
}

SEC("xdp") int bench_redirect(struct xdp_md *ctx) { return redirect_cfg(); }
SEC("xdp") int bench_redirect_swap(struct xdp_md *ctx) { return swap_macs(ctx) ? redirect_cfg() : XDP_ABORTED; }
SEC("xdp") int bench_redirect_map(struct xdp_md *ctx) { return bpf_redirect_map(&tx_port, 0, 0); }
SEC("xdp") int bench_redirect_map_swap(struct xdp_md *ctx) { return swap_macs(ctx) ? bpf_redirect_map(&tx_port, 0, 0) : XDP_ABORTED; }
SEC("xdp") int bench_redirect_multi(struct xdp_md *ctx)
{
	return bpf_redirect_map(&forward_map, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
}

char _license[] SEC("license") = "GPL";
