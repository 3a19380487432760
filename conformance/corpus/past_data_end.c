/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A program that reads a byte past data_end: its bounds check covers 14
 * bytes and it reads the 15th. The kernel's verifier refuses to load it.
 */
#include "common.h"

SEC("xdp")
int xdp_past_end(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;

	if (data + ETH_HLEN > end)
		return verdict(XDP_DROP);
	return verdict(data[ETH_HLEN] == 0x45 ? XDP_PASS : XDP_DROP);
}
