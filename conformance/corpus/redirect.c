/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The redirect helpers, configured per case through cfg (an ARRAY of u32):
 *   cfg[0] mode: 0 bpf_redirect_map(&tx, key, flags) (DEVMAP)
 *                1 bpf_redirect_map(&txh, key, flags) (DEVMAP_HASH)
 *                2 bpf_redirect(cfg[4], flags)
 *   cfg[1] key; cfg[2], cfg[3] the low and high 32 bits of flags
 *   cfg[7] bit 0: add (UDP source port - 1000) & 3 to flags per frame (the
 *          lookup-miss fallback action)
 *          bit 1: grow the frame by 16 bytes (bpf_xdp_adjust_tail) first
 * Devmap programs (SEC("xdp/devmap")), which entries of tx and txh may carry:
 *   dm_drop_egress   XDP_DROP when egress_ifindex is cfg[5], else XDP_PASS
 *   dm_sport_verdict returns the UDP source port - 1000 (any action)
 *   dm_mark          writes 0xee into byte 11 of the frame (the source MAC's
 *                    last) if egress_ifindex is cfg[5], else 0xdd, and 0xaa
 *                    into byte 10 if ingress_ifindex is cfg[6]; XDP_PASS
 *   dm_trim          bpf_xdp_adjust_tail(-4); XDP_PASS (XDP_DROP if it fails)
 *   dm_push4         bpf_xdp_adjust_head(-4) and 5a 5a 5a 5a in the new bytes;
 *                    XDP_PASS (XDP_DROP if it fails)
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} txh SEC(".maps");

VERDICT_MAP(dm_verdicts);

static __always_inline __u32 cfg_get(__u32 i)
{
	__u32 *v = bpf_map_lookup_elem(&cfg, &i);

	return v ? *v : 0;
}

SEC("xdp")
int xdp_redir(struct xdp_md *ctx)
{
	__u32 mode = cfg_get(0), key = cfg_get(1);
	__u64 flags = ((__u64)cfg_get(3) << 32) | cfg_get(2);

	if (cfg_get(7) & 1) {
		int port = udp_sport(ctx);

		if (port >= 1000)
			flags |= (port - 1000) & 3;
	}
	if ((cfg_get(7) & 2) && bpf_xdp_adjust_tail(ctx, 16) != 0)
		return verdict(XDP_DROP);
	if (mode == 0)
		return verdict(bpf_redirect_map(&tx, key, flags));
	if (mode == 1)
		return verdict(bpf_redirect_map(&txh, key, flags));
	return verdict(bpf_redirect(cfg_get(4), flags));
}

SEC("xdp/devmap")
int dm_drop_egress(struct xdp_md *ctx)
{
	return count_in(&dm_verdicts, ctx->egress_ifindex == cfg_get(5) ? XDP_DROP : XDP_PASS);
}

SEC("xdp/devmap")
int dm_sport_verdict(struct xdp_md *ctx)
{
	int port = udp_sport(ctx);

	return count_in(&dm_verdicts, port < 1000 ? XDP_PASS : port - 1000);
}

SEC("xdp/devmap")
int dm_mark(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;

	if (data + ETH_HLEN > end)
		return count_in(&dm_verdicts, XDP_DROP);
	data[11] = ctx->egress_ifindex == cfg_get(5) ? 0xee : 0xdd;
	if (ctx->ingress_ifindex == cfg_get(6))
		data[10] = 0xaa;
	return count_in(&dm_verdicts, XDP_PASS);
}

SEC("xdp/devmap")
int dm_trim(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_tail(ctx, -4))
		return count_in(&dm_verdicts, XDP_DROP);
	return count_in(&dm_verdicts, XDP_PASS);
}

SEC("xdp/devmap")
int dm_push4(struct xdp_md *ctx)
{
	unsigned char *data, *end;

	if (bpf_xdp_adjust_head(ctx, -4))
		return count_in(&dm_verdicts, XDP_DROP);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + 4 > end)
		return count_in(&dm_verdicts, XDP_DROP);
	data[0] = data[1] = data[2] = data[3] = 0x5a;
	return count_in(&dm_verdicts, XDP_PASS);
}
