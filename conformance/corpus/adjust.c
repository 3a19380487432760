/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bpf_xdp_adjust_head and bpf_xdp_adjust_tail at their bounds, one operation
 * per frame chosen by its UDP source port (op = port - 1000); the helper's
 * return value goes into results[op] and the frame is passed, so the bytes
 * the stack receives show what the operation did:
 *   0 head -216 (the most headroom there is), then +216 back
 *   1 head -217                    2 head +14 (pop the Ethernet header)
 *   3 head -14, then a new Ethernet header (the old MACs swapped, type 0x88b5)
 *   4 head +(len - 14)             5 head +(len - 13)
 *   6 tail -4                      7 tail -(len - 14)
 *   8 tail -(len - 13)             9 tail +2006 (a 1514-byte frame: its whole page)
 *  10 tail +2007                  11 tail +16
 *  12 meta -4                     13 meta -6 (not a multiple of 4)
 *  14 meta -220 (below the xdp_frame)
 *  15 meta -32, then head -185 (the metadata takes headroom too); results[15]
 *     is the second call's
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

SEC("xdp")
int xdp_adjust(struct xdp_md *ctx)
{
	int port = udp_sport(ctx);
	int len = ctx->data_end - ctx->data;
	__u32 op;
	__s64 r = -1000, *slot;
	unsigned char *data, *end;

	if (port < 1000 || port >= 1016)
		return verdict(XDP_PASS);
	op = port - 1000;
	switch (op) {
	case 0:
		r = bpf_xdp_adjust_head(ctx, -216);
		if (r == 0)
			bpf_xdp_adjust_head(ctx, 216);
		break;
	case 1: r = bpf_xdp_adjust_head(ctx, -217); break;
	case 2: r = bpf_xdp_adjust_head(ctx, 14); break;
	case 3:
		r = bpf_xdp_adjust_head(ctx, -14);
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		if (r == 0 && data + 28 <= end) {
			for (int i = 0; i < 6; i++) {
				data[i] = data[14 + 6 + i];
				data[6 + i] = data[14 + i];
			}
			data[12] = 0x88;
			data[13] = 0xb5;
		}
		break;
	case 4: r = bpf_xdp_adjust_head(ctx, len - 14); break;
	case 5: r = bpf_xdp_adjust_head(ctx, len - 13); break;
	case 6: r = bpf_xdp_adjust_tail(ctx, -4); break;
	case 7: r = bpf_xdp_adjust_tail(ctx, -(len - 14)); break;
	case 8: r = bpf_xdp_adjust_tail(ctx, -(len - 13)); break;
	case 9: r = bpf_xdp_adjust_tail(ctx, 2006); break;
	case 10: r = bpf_xdp_adjust_tail(ctx, 2007); break;
	case 11: r = bpf_xdp_adjust_tail(ctx, 16); break;
	case 12: r = bpf_xdp_adjust_meta(ctx, -4); break;
	case 13: r = bpf_xdp_adjust_meta(ctx, -6); break;
	case 14: r = bpf_xdp_adjust_meta(ctx, -220); break;
	case 15:
		r = bpf_xdp_adjust_meta(ctx, -32);
		if (r == 0)
			r = bpf_xdp_adjust_head(ctx, -185);
		break;
	}
	slot = bpf_map_lookup_elem(&results, &op);
	if (slot)
		*slot = r;
	return verdict(XDP_PASS);
}
