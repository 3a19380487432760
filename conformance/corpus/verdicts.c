/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every XDP return value, chosen per frame: the program returns the UDP
 * source port minus 1000 (1000 XDP_ABORTED, 1001 XDP_DROP, 1002 XDP_PASS,
 * 1003 XDP_TX, 1004 XDP_REDIRECT with no redirect helper called before it,
 * 1007 an invalid action).
 */
#include "common.h"

SEC("xdp")
int xdp_verdict(struct xdp_md *ctx)
{
	int port = udp_sport(ctx);

	if (port < 1000)
		return verdict(XDP_PASS);
	return verdict(port - 1000);
}
