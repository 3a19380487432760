#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <linux/if_link.h>
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
struct cfg { __u32 mode; __u32 key; __u64 flags; __u32 ifindex; __u32 pad; };
static int cfd, rfd, tfd, sk, in1;
static const char *names[] = { "in0", "in1", "t1a", "t1b", "t2a", "t2b", "t3a", "t3b" };
static void wr(const char *p, const char *s) { FILE *f = fopen(p, "w"); if (!f) { perror(p); exit(1); } fputs(s, f); fclose(f); }
static void scen(const char *tag, __u32 mode, __u32 key, __u64 flags, __u32 ifi)
{
	struct cfg c = { mode, key, flags, ifi, 0 }; __u32 k0 = 0; __u64 z = 0;
	bpf_map_update_elem(cfd, &k0, &c, 0);
	for (__u32 i = 0; i < 64; i++) bpf_map_update_elem(rfd, &i, &z, 0);
	__u64 sentinel = 0xeeee; bpf_map_update_elem(rfd, &k0, &sentinel, 0);
	wr("/sys/kernel/tracing/trace", "");
	unsigned char pkt[60] = {0}; memset(pkt, 0xff, 6); pkt[6] = 2; pkt[11] = 1; pkt[12] = 0x88; pkt[13] = 0xb5;
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_ifindex = in1, .sll_halen = 6 }; memset(sa.sll_addr, 0xff, 6);
	if (sendto(sk, pkt, sizeof pkt, 0, (void *)&sa, sizeof sa) < 0) perror("sendto");
	usleep(300000);
	__u64 ret = 0, runs = 0; __u32 k1 = 1;
	bpf_map_lookup_elem(rfd, &k0, &ret); bpf_map_lookup_elem(rfd, &k1, &runs);
	printf("\n### %s  [mode=%s key=%u flags=0x%llx ifindex=%u]\n", tag, mode == 0 ? "redirect_map" : "redirect", key, (unsigned long long)flags, ifi);
	printf("  helper ret=%lld (runs=%llu); rx at:", (long long)(int)ret, (unsigned long long)runs);
	for (int i = 3; i < 8; i += 2) { __u32 kk = 2 + (if_nametoindex(names[i]) % 60); __u64 v = 0; bpf_map_lookup_elem(rfd, &kk, &v); printf(" %s=%llu", names[i], (unsigned long long)v); }
	printf("\n");
	FILE *f = fopen("/sys/kernel/tracing/trace", "r"); char line[512];
	while (fgets(line, sizeof line, f)) { if (line[0] == '#') continue; char *p = strstr(line, "xdp_"); printf("  TP %s", p ? p : line); }
	fclose(f);
}
int main(void)
{
	int nsfd = open("/run/netns/dmf_ns", O_RDONLY); if (nsfd < 0 || setns(nsfd, CLONE_NEWNET)) { perror("setns"); return 1; }
	struct bpf_object *obj = bpf_object__open_file("progs.bpf.o", NULL);
	if (!obj || bpf_object__load(obj)) { fprintf(stderr, "load fail\n"); return 1; }
	int redir = bpf_program__fd(bpf_object__find_program_by_name(obj, "xdp_redir"));
	int rx = bpf_program__fd(bpf_object__find_program_by_name(obj, "xdp_rx"));
	cfd = bpf_object__find_map_fd_by_name(obj, "cfgm"); rfd = bpf_object__find_map_fd_by_name(obj, "res"); tfd = bpf_object__find_map_fd_by_name(obj, "tx");
	struct bpf_prog_info pi = {}; __u32 pl = sizeof pi; bpf_obj_get_info_by_fd(redir, &pi, &pl);
	struct bpf_map_info mi = {}; __u32 ml = sizeof mi; bpf_obj_get_info_by_fd(tfd, &mi, &ml);
	printf("redirect prog id=%u, tx devmap id=%u; ifindexes:", pi.id, mi.id);
	for (int i = 0; i < 8; i++) printf(" %s=%u", names[i], if_nametoindex(names[i])); printf("\n");
	struct cfg c = { 2 }; __u32 k0 = 0; bpf_map_update_elem(cfd, &k0, &c, 0);
	in1 = if_nametoindex("in1");
	int e;
	if ((e = bpf_xdp_attach(if_nametoindex("in0"), redir, XDP_FLAGS_DRV_MODE, NULL))) { printf("attach in0 %d\n", e); return 1; }
	for (int i = 3; i < 8; i += 2) if ((e = bpf_xdp_attach(if_nametoindex(names[i]), rx, XDP_FLAGS_DRV_MODE, NULL))) { printf("attach %s %d\n", names[i], e); return 1; }
	struct { __u32 ifi; __s32 fd; } v;
	for (__u32 k = 1; k <= 3; k++) { v.ifi = if_nametoindex(names[2 * k]); v.fd = -1; e = bpf_map_update_elem(tfd, &k, &v, 0); printf("tx[%u] = %s (%u) -> %d\n", k, names[2 * k], v.ifi, e); }
	system("ip -br link");
	sk = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));
	const char *ev[] = { "xdp_redirect", "xdp_redirect_err", "xdp_devmap_xmit", "xdp_exception", "xdp_bulk_tx" };
	char p[128];
	for (int i = 0; i < 5; i++) { snprintf(p, sizeof p, "/sys/kernel/tracing/events/xdp/%s/enable", ev[i]); wr(p, "1"); }
	__u32 t1a = if_nametoindex("t1a"), t3a = if_nametoindex("t3a");
	scen("A normal devmap redirect, key 1 (t1a)", 0, 1, 0, 0);
	scen("A2 normal devmap redirect, key 2 (t2a)", 0, 2, 0, 0);
	scen("B missing key 7, flags 0", 0, 7, 0, 0);
	scen("B2 missing key 7, flags 2 (XDP_PASS fallback)", 0, 7, 2, 0);
	scen("B3 key 100 >= max_entries, flags 1 (XDP_DROP fallback)", 0, 100, 1, 0);
	scen("C unknown flag 1<<5, key 1 (present)", 0, 1, 1 << 5, 0);
	scen("C2 unknown flag 1<<5 | 2, key 7 (missing)", 0, 7, (1 << 5) | 2, 0);
	scen("C3 unknown flag 1<<2, key 1", 0, 1, 1 << 2, 0);
	scen("C4 unknown flag 1<<32, key 1", 0, 1, 1ULL << 32, 0);
	scen("D BPF_F_BROADCAST, key 1 (present)", 0, 1, BPF_F_BROADCAST, 0);
	scen("E BPF_F_BROADCAST, key 7 (missing)", 0, 7, BPF_F_BROADCAST, 0);
	scen("E2 BPF_F_BROADCAST|EXCLUDE_INGRESS, key 100 (>=max)", 0, 100, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS, 0);
	scen("E3 BPF_F_EXCLUDE_INGRESS only, key 1", 0, 1, BPF_F_EXCLUDE_INGRESS, 0);
	scen("G devmap key 3 -> t3a which is DOWN", 0, 3, 0, 0);
	scen("H bpf_redirect(9999) nonexistent ifindex", 1, 0, 0, 9999);
	scen("I bpf_redirect(t1a) normal", 1, 0, 0, t1a);
	scen("J bpf_redirect(t3a) DOWN", 1, 0, 0, t3a);
	/* empty the devmap and broadcast */
	for (__u32 k = 1; k <= 3; k++) bpf_map_delete_elem(tfd, &k);
	scen("K BPF_F_BROADCAST on EMPTY devmap, key 1", 0, 1, BPF_F_BROADCAST, 0);
	for (int i = 0; i < 5; i++) { snprintf(p, sizeof p, "/sys/kernel/tracing/events/xdp/%s/enable", ev[i]); wr(p, "0"); }
	/* peer without XDP prog: detach rx from t2b, put t2a back as key 2 */
	bpf_xdp_detach(if_nametoindex("t2b"), XDP_FLAGS_DRV_MODE, NULL);
	v.ifi = if_nametoindex("t2a"); v.fd = -1; __u32 k2 = 2; bpf_map_update_elem(tfd, &k2, &v, 0);
	for (int i = 0; i < 5; i++) { snprintf(p, sizeof p, "/sys/kernel/tracing/events/xdp/%s/enable", ev[i]); wr(p, "1"); }
	scen("L devmap key 2 -> t2a whose peer t2b has NO xdp prog (no NDO_XMIT)", 0, 2, 0, 0);
	for (int i = 0; i < 5; i++) { snprintf(p, sizeof p, "/sys/kernel/tracing/events/xdp/%s/enable", ev[i]); wr(p, "0"); }
	return 0;
}
