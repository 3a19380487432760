#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

static const char *en(int r) { static char b[64]; if (r >= 0) { snprintf(b, sizeof b, "0 (ok)"); return b; } snprintf(b, sizeof b, "%d (%s)", r, strerrorname_np(-r)); return b; }
struct v8 { __u32 ifindex; __u32 fd_or_id; };
static int vs;
static int upd(int fd, __u32 k, __u32 ifi, int pfd, __u64 fl) { struct v8 v = { ifi, (__u32)pfd }; return bpf_map_update_elem(fd, &k, &v, fl); }
static void lk(int fd, __u32 k, const char *tag) {
	struct v8 v = { 0xdeadbeef, 0xdeadbeef }; int r = bpf_map_lookup_elem(fd, &k, &v);
	if (r) printf("  %-55s -> lookup %s\n", tag, en(r));
	else if (vs == 8) printf("  %-55s -> lookup ok {ifindex=%u, prog_id=%u}\n", tag, v.ifindex, v.fd_or_id);
	else printf("  %-55s -> lookup ok {ifindex=%u}\n", tag, v.ifindex);
}
#define P(tag, expr) do { int _r = (expr); printf("  %-55s -> %s\n", tag, en(_r)); } while (0)
static void gn(int fd, __u32 *k, const char *tag) {
	__u32 n = 0xdeadbeef; int r = bpf_map_get_next_key(fd, k, &n);
	if (r) printf("  %-55s -> %s\n", tag, en(r)); else printf("  %-55s -> ok next=%u\n", tag, n);
}
static void walk(int fd, const char *tag) {
	__u32 k, n; int first = 1, cnt = 0; printf("  %-55s -> [", tag);
	while (!bpf_map_get_next_key(fd, first ? NULL : &k, &n) && cnt++ < 20) { printf("%s%u", first ? "" : ",", n); k = n; first = 0; }
	printf("]\n");
}

int main(void)
{
	struct bpf_object *obj = bpf_object__open_file("progs.bpf.o", NULL);
	if (!obj || bpf_object__load(obj)) { fprintf(stderr, "load fail\n"); return 1; }
	int dmfd = bpf_program__fd(bpf_object__find_program_by_name(obj, "xdp_dm"));
	int plainfd = bpf_program__fd(bpf_object__find_program_by_name(obj, "xdp_plain"));
	int mapfd_other = bpf_object__find_map_fd_by_name(obj, "res");
	struct bpf_prog_info pi = {}; __u32 pl = sizeof pi; bpf_obj_get_info_by_fd(dmfd, &pi, &pl);
	printf("devmap prog fd=%d id=%u expected_attach_type(BPF_XDP_DEVMAP=%d); plain xdp prog fd=%d\n", dmfd, pi.id, BPF_XDP_DEVMAP, plainfd);

	for (vs = 4; vs <= 8; vs += 4) {
		printf("\n## DEVMAP key4 value%d max_entries 8 (valid ifindexes: 1=lo, 2=ifb0)\n", vs);
		int fd = bpf_map_create(BPF_MAP_TYPE_DEVMAP, "x", 4, vs, 8, NULL);
		if (fd < 0) { printf("create %s\n", en(fd)); continue; }
		P("update k0 {1} NOEXIST (empty slot)", upd(fd, 0, 1, 0, BPF_NOEXIST));
		P("update k0 {2} NOEXIST (used slot)", upd(fd, 0, 2, 0, BPF_NOEXIST));
		lk(fd, 0, "lookup k0 after");
		P("update k1 {1} EXIST (empty slot)", upd(fd, 1, 1, 0, BPF_EXIST));
		lk(fd, 1, "lookup k1 after");
		P("update k0 {2} EXIST (used slot)", upd(fd, 0, 2, 0, BPF_EXIST));
		lk(fd, 0, "lookup k0 after");
		P("update k2 {1} flags 4 BPF_F_LOCK", upd(fd, 2, 1, 0, 4));
		P("update k2 {1} flags 8", upd(fd, 2, 1, 0, 8));
		P("update k2 {1} flags 3", upd(fd, 2, 1, 0, 3));
		lk(fd, 2, "lookup k2 after");
		P("update k8 {1} ANY (key==max)", upd(fd, 8, 1, 0, BPF_ANY));
		P("update k100 {1} ANY", upd(fd, 100, 1, 0, BPF_ANY));
		P("update k8 {1} NOEXIST (key==max)", upd(fd, 8, 1, 0, BPF_NOEXIST));
		P("update k3 {0} ANY (empty slot)", upd(fd, 3, 0, 0, BPF_ANY));
		lk(fd, 3, "lookup k3 after");
		P("update k3 {0} NOEXIST (empty slot)", upd(fd, 3, 0, 0, BPF_NOEXIST));
		P("update k3 {0} EXIST (empty slot)", upd(fd, 3, 0, 0, BPF_EXIST));
		P("update k4 {1} ANY", upd(fd, 4, 1, 0, BPF_ANY));
		P("update k4 {0} ANY (used slot)", upd(fd, 4, 0, 0, BPF_ANY));
		lk(fd, 4, "lookup k4 after");
		P("update k4 {0} EXIST (now-empty slot)", upd(fd, 4, 0, 0, BPF_EXIST));
		P("update k4 {1} ANY", upd(fd, 4, 1, 0, BPF_ANY));
		P("update k4 {0} NOEXIST (used slot)", upd(fd, 4, 0, 0, BPF_NOEXIST));
		P("update k4 {0} EXIST (used slot)", upd(fd, 4, 0, 0, BPF_EXIST));
		lk(fd, 4, "lookup k4 after");
		if (vs == 8) {
			P("update k5 {0, devmap prog fd} ANY (empty)", upd(fd, 5, 0, dmfd, BPF_ANY));
			lk(fd, 5, "lookup k5 after");
			P("update k6 {1} ANY", upd(fd, 6, 1, 0, BPF_ANY));
			P("update k6 {0, devmap prog fd} ANY (used)", upd(fd, 6, 0, dmfd, BPF_ANY));
			lk(fd, 6, "lookup k6 after");
			P("update k5 {1, devmap prog fd} ANY", upd(fd, 5, 1, dmfd, BPF_ANY));
			lk(fd, 5, "lookup k5 after");
			P("update k5 {1, plain SEC(xdp) prog fd} ANY", upd(fd, 5, 1, plainfd, BPF_ANY));
			lk(fd, 5, "lookup k5 after (unchanged?)");
			P("update k7 {1, plain SEC(xdp) prog fd} ANY (empty)", upd(fd, 7, 1, plainfd, BPF_ANY));
			lk(fd, 7, "lookup k7 after");
			P("update k7 {1, fd=map fd (not a prog)}", upd(fd, 7, 1, mapfd_other, BPF_ANY));
			P("update k7 {1, fd=999 (closed fd)}", upd(fd, 7, 1, 999, BPF_ANY));
			P("update k7 {1, fd=-1}", upd(fd, 7, 1, -1, BPF_ANY));
			lk(fd, 7, "lookup k7 after fd=-1");
			P("update k7 {1, fd=0 (stdin)}", upd(fd, 7, 1, 0, BPF_ANY));
			lk(fd, 7, "lookup k7 after fd=0");
			P("delete k7", bpf_map_delete_elem(fd, &(__u32){7}));
			P("update k6 {0}", upd(fd, 6, 0, 0, BPF_ANY));
		}
		P("update k5 {99999 nonexistent ifindex} ANY", upd(fd, 5, 99999, 0, BPF_ANY));
		lk(fd, 5, "lookup k5 after");
		P("update k5 {99999} NOEXIST", upd(fd, 5, 99999, 0, BPF_NOEXIST));
		P("delete k5 (state after above)", bpf_map_delete_elem(fd, &(__u32){5}));
		P("delete k6 (empty slot)", bpf_map_delete_elem(fd, &(__u32){6}));
		P("delete k8 (key==max)", bpf_map_delete_elem(fd, &(__u32){8}));
		P("delete k100", bpf_map_delete_elem(fd, &(__u32){100}));
		lk(fd, 6, "lookup k6 (empty slot)");
		lk(fd, 8, "lookup k8 (key==max)");
		printf("  state: ");
		for (__u32 k = 0; k < 8; k++) { struct v8 v; printf("k%u=%s ", k, bpf_map_lookup_elem(fd, &k, &v) ? "-" : "set"); } printf("\n");
		gn(fd, NULL, "get_next_key(NULL)");
		gn(fd, &(__u32){3}, "get_next_key(3) (3 is empty)");
		gn(fd, &(__u32){5}, "get_next_key(5) (empty)");
		gn(fd, &(__u32){6}, "get_next_key(6)");
		gn(fd, &(__u32){7}, "get_next_key(7) (last key)");
		gn(fd, &(__u32){8}, "get_next_key(8) (==max)");
		gn(fd, &(__u32){100}, "get_next_key(100)");
		gn(fd, &(__u32){0xffffffff}, "get_next_key(0xffffffff)");
		walk(fd, "full get_next_key walk");
		if (vs == 4) {
			char cmd[128]; struct bpf_map_info mi = {}; __u32 ml = sizeof mi; bpf_obj_get_info_by_fd(fd, &mi, &ml);
			snprintf(cmd, sizeof cmd, "bpftool map dump id %u 2>&1 | tr '\\n' ' '; echo", mi.id);
			printf("  bpftool map dump: "); fflush(stdout); system(cmd);
		}
		close(fd);
	}

	printf("\n## DEVMAP_HASH key4 value8 max_entries 4\n"); vs = 8;
	int h = bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, "h", 4, 8, 4, NULL);
	P("update k1 {1} EXIST (missing key)", upd(h, 1, 1, 0, BPF_EXIST));
	lk(h, 1, "lookup k1 after");
	P("update k1 {1} NOEXIST (missing)", upd(h, 1, 1, 0, BPF_NOEXIST));
	P("update k1 {2} NOEXIST (existing)", upd(h, 1, 2, 0, BPF_NOEXIST));
	P("update k1 {2} EXIST (existing)", upd(h, 1, 2, 0, BPF_EXIST));
	lk(h, 1, "lookup k1 after");
	P("update k5 {1} ANY", upd(h, 5, 1, 0, BPF_ANY));
	P("update k9 {1} ANY", upd(h, 9, 1, 0, BPF_ANY));
	walk(h, "walk after inserting 1,5,9 in order");
	{ char cmd[160]; struct bpf_map_info mi = {}; __u32 ml = sizeof mi; bpf_obj_get_info_by_fd(h, &mi, &ml);
	  snprintf(cmd, sizeof cmd, "bpftool map dump id %u 2>&1 | tr '\\n' ' '; echo", mi.id);
	  printf("  bpftool map dump: "); fflush(stdout); system(cmd); }
	gn(h, NULL, "get_next_key(NULL)");
	gn(h, &(__u32){9}, "get_next_key(9)");
	gn(h, &(__u32){5}, "get_next_key(5)");
	gn(h, &(__u32){1}, "get_next_key(1) (last)");
	gn(h, &(__u32){3}, "get_next_key(3) (missing)");
	gn(h, &(__u32){100}, "get_next_key(100) (missing)");
	P("update k5 {2} ANY (replace existing)", upd(h, 5, 2, 0, BPF_ANY));
	walk(h, "walk after replacing k5");
	P("update k2 {0} ANY (ifindex 0)", upd(h, 2, 0, 0, BPF_ANY));
	P("update k1 {0} ANY (ifindex 0, existing key)", upd(h, 1, 0, 0, BPF_ANY));
	lk(h, 1, "lookup k1 after");
	P("update k2 {99999} ANY (nonexistent ifindex)", upd(h, 2, 99999, 0, BPF_ANY));
	P("update k2 {0, devmap prog} ANY", upd(h, 2, 0, dmfd, BPF_ANY));
	P("update k2 {1, plain xdp prog} ANY", upd(h, 2, 1, plainfd, BPF_ANY));
	P("update k100 {1} ANY (4th key; key > max ok?)", upd(h, 100, 1, 0, BPF_ANY));
	walk(h, "walk (4 keys)");
	P("update k6 {1} ANY (5th key)", upd(h, 6, 1, 0, BPF_ANY));
	P("update k6 {1} NOEXIST (5th key)", upd(h, 6, 1, 0, BPF_NOEXIST));
	P("update k6 {1} EXIST (5th key)", upd(h, 6, 1, 0, BPF_EXIST));
	P("update k100 {2} ANY (replace when full)", upd(h, 100, 2, 0, BPF_ANY));
	P("update k2 {1} flags BPF_F_LOCK", upd(h, 2, 1, 0, 4));
	P("delete k7 (missing)", bpf_map_delete_elem(h, &(__u32){7}));
	lk(h, 7, "lookup k7 (missing)");
	P("delete k5", bpf_map_delete_elem(h, &(__u32){5}));
	walk(h, "walk after delete 5");
	P("update k13 {1} ANY", upd(h, 13, 1, 0, BPF_ANY));
	walk(h, "walk after insert 13");
	close(h);
	h = bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, "h4", 4, 4, 4, NULL);
	printf("  DEVMAP_HASH value4 create -> %s\n", en(h));

	printf("\n## map create (DEVMAP / DEVMAP_HASH)\n");
	int t[2] = { BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH };
	for (int i = 0; i < 2; i++) {
		const char *nm = i ? "DEVMAP_HASH" : "DEVMAP";
		LIBBPF_OPTS(bpf_map_create_opts, np, .map_flags = BPF_F_NO_PREALLOC);
		LIBBPF_OPTS(bpf_map_create_opts, rd, .map_flags = BPF_F_RDONLY);
		LIBBPF_OPTS(bpf_map_create_opts, rp, .map_flags = BPF_F_RDONLY_PROG);
		LIBBPF_OPTS(bpf_map_create_opts, mm, .map_flags = BPF_F_MMAPABLE);
		int r;
#define C(tag, ...) do { r = bpf_map_create(__VA_ARGS__); printf("  %-12s %-40s -> %s\n", nm, tag, en(r)); if (r >= 0) close(r); } while (0)
		C("key4 value4 max8", t[i], "c", 4, 4, 8, NULL);
		C("key4 value8 max8", t[i], "c", 4, 8, 8, NULL);
		C("key8 value4 max8", t[i], "c", 8, 4, 8, NULL);
		C("key2 value4 max8", t[i], "c", 2, 4, 8, NULL);
		C("key4 value12 max8", t[i], "c", 4, 12, 8, NULL);
		C("key4 value0 max8", t[i], "c", 4, 0, 8, NULL);
		C("key4 value4 max0", t[i], "c", 4, 4, 0, NULL);
		C("key4 value4 max8 BPF_F_NO_PREALLOC", t[i], "c", 4, 4, 8, &np);
		C("key4 value4 max8 BPF_F_RDONLY", t[i], "c", 4, 4, 8, &rd);
		C("key4 value4 max8 BPF_F_RDONLY_PROG", t[i], "c", 4, 4, 8, &rp);
		C("key4 value4 max8 BPF_F_MMAPABLE", t[i], "c", 4, 4, 8, &mm);
	}
	return 0;
}
