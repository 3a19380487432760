#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
static const char *en(int r) { static char b[64]; if (r >= 0) return "0 (ok)"; snprintf(b, sizeof b, "%d (%s)", r, strerrorname_np(-r)); return b; }
struct v8 { __u32 ifindex; __s32 fd; };
static int upd(int fd, __u32 k, __u32 ifi, int pfd, __u64 fl) { struct v8 v = { ifi, pfd }; return bpf_map_update_elem(fd, &k, &v, fl); }
#define P(tag, expr) printf("  %-60s -> %s\n", tag, en(expr))
int main(void) {
	struct bpf_object *obj = bpf_object__open_file("progs.bpf.o", NULL);
	if (!obj || bpf_object__load(obj)) return 1;
	int dmfd = bpf_program__fd(bpf_object__find_program_by_name(obj, "xdp_dm"));
	int d = bpf_map_create(BPF_MAP_TYPE_DEVMAP, "d", 4, 8, 8, NULL);
	__u32 n;
	printf("DEVMAP v8 max8 (empty):\n");
	P("get_next_key(NULL) on empty devmap", bpf_map_get_next_key(d, NULL, &n)); printf("    next=%u\n", n);
	P("k8 flags 4 (key>=max AND bad flags)", upd(d, 8, 1, -1, 4));
	P("k8 {99999} ANY", upd(d, 8, 99999, -1, 0));
	P("k8 {0} ANY", upd(d, 8, 0, -1, 0));
	P("k0 {99999} NOEXIST", upd(d, 0, 99999, -1, 1));
	P("k0 {99999} flags 4", upd(d, 0, 99999, -1, 4));
	P("k0 {1} flags 2|4 (EXIST|LOCK)", upd(d, 0, 1, -1, 6));
	P("k0 {0, fd=-1} ANY", upd(d, 0, 0, -1, 0));
	P("k0 {0, fd=0} ANY", upd(d, 0, 0, 0, 0));
	P("k0 {99999, devmap prog} ANY", upd(d, 0, 99999, dmfd, 0));
	int h = bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, "h", 4, 8, 2, NULL);
	printf("DEVMAP_HASH v8 max2:\n");
	P("get_next_key(NULL) on empty hash", bpf_map_get_next_key(h, NULL, &n));
	P("get_next_key(7) on empty hash", bpf_map_get_next_key(h, &(__u32){7}, &n));
	P("k3 {1} NOEXIST (missing)", upd(h, 3, 1, -1, 1));
	P("k3 {0} NOEXIST (existing, ifindex 0)", upd(h, 3, 0, -1, 1));
	P("k3 {1} flags 4 (existing)", upd(h, 3, 1, -1, 4));
	P("k4 {1, devmap prog} ANY", upd(h, 4, 1, dmfd, 0));
	{ struct v8 v; bpf_map_lookup_elem(h, &(__u32){4}, &v); printf("    lookup k4 -> {ifindex=%u, prog_id=%d}\n", v.ifindex, v.fd); }
	P("k5 {0} ANY (3rd key when full, ifindex 0)", upd(h, 5, 0, -1, 0));
	P("k5 {99999} ANY (3rd key when full, bad ifindex)", upd(h, 5, 99999, -1, 0));
	P("k5 {1} ANY (3rd key when full)", upd(h, 5, 1, -1, 0));
	P("delete k3", bpf_map_delete_elem(h, &(__u32){3}));
	P("k5 {1} ANY (after delete)", upd(h, 5, 1, -1, 0));
	P("k0xffffffff {1} ANY when full", upd(h, 0xffffffff, 1, -1, 0));
	int hb = bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, "hb", 4, 8, 8, NULL);
	for (__u32 k = 0; k < 8; k++) upd(hb, k, 1, -1, 0);
	printf("  DEVMAP_HASH max8, keys 0..7 inserted ascending, walk: ");
	__u32 k, nx; int first = 1; while (!bpf_map_get_next_key(hb, first ? NULL : &k, &nx)) { printf("%u ", nx); k = nx; first = 0; } printf("\n");
	return 0;
}
