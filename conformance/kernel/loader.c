// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel half's driver, run by conformance/kernel.ts inside the case's
 * network namespace (ip netns exec). It reads a script of commands on stdin,
 * one per line, and answers on stdout, one fact per line:
 *
 *   open OBJ                    load a BPF object with libbpf; answers
 *                               "load ok" (then "prog NAME ID" and
 *                               "map NAME ID TYPE KEYSIZE VALUESIZE MAXENTRIES")
 *                               or "load err ERRNO"; after a failed load every
 *                               other command is skipped
 *   attach DEV PROG             native (driver mode) XDP
 *   update MAP KEYHEX VALHEX [PROG OFF]   bpf_map_update_elem(BPF_ANY); with
 *                               PROG, that program's fd is written at byte OFF
 *                               of the value (struct bpf_devmap_val.bpf_prog.fd)
 *   devupdate MAP KEYHEX IFINDEX [PROG]   a DEVMAP/DEVMAP_HASH entry: the value
 *                               is the ifindex (value size 4) or a struct
 *                               bpf_devmap_val with PROG's fd (or none)
 *   capture DEV...              AF_PACKET sockets that collect what each
 *                               device receives (PACKET_OUTGOING left out)
 *   inject DEV HEX              send the frame on DEV (an AF_PACKET socket)
 *   wait MAP N MS               until the u64 values of ARRAY MAP sum to N
 *                               (at most MS milliseconds)
 *   sleep MS
 *   collect                     "frame DEV PKTTYPE HEX" for every captured frame
 *   dump MAP                    "entry MAP KEYHEX VALHEX" per key (get_next_key
 *                               order), then "dumped MAP"
 * Failures answer "error CMD ... ERRNO" (errno as a positive number) and the
 * script goes on. Programs stay attached until the namespace is deleted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MAX_CAP 32

static struct bpf_object *obj;
static int loaded;
static struct { char dev[IFNAMSIZ]; int fd; } caps[MAX_CAP];
static int ncaps;

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = strlen(s), i;

	if (n % 2 || n / 2 > max) return -1;
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0) return -1;
		out[i] = hi << 4 | lo;
	}
	return n / 2;
}

static void puthex(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG) return 0;
	return vfprintf(stderr, fmt, ap);
}

static void cmd_open(const char *path)
{
	struct bpf_program *p;
	struct bpf_map *m;
	int err;

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		printf("load err %d\n", errno);
		return;
	}
	err = bpf_object__load(obj);
	if (err) {
		printf("load err %d\n", -err);
		return;
	}
	loaded = 1;
	printf("load ok\n");
	bpf_object__for_each_program(p, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0)
			printf("prog %s %u\n", bpf_program__name(p), info.id);
	}
	bpf_object__for_each_map(m, obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_map__is_internal(m)) continue;
		if (bpf_obj_get_info_by_fd(bpf_map__fd(m), &info, &len) == 0)
			printf("map %s %u %u %u %u %u\n", bpf_map__name(m), info.id, info.type,
			       info.key_size, info.value_size, info.max_entries);
	}
}

static struct bpf_map *find_map(const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m) printf("error nomap %s\n", name);
	return m;
}

static void cmd_attach(const char *dev, const char *prog)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, prog);
	int ifindex = if_nametoindex(dev), err;

	if (!p || !ifindex) {
		printf("error attach %s %s %d\n", dev, prog, ENOENT);
		return;
	}
	err = bpf_xdp_attach(ifindex, bpf_program__fd(p), XDP_FLAGS_DRV_MODE, NULL);
	if (err) printf("error attach %s %s %d\n", dev, prog, -err);
}

static void cmd_update(const char *map, const char *khex, const char *vhex, const char *prog, const char *off)
{
	unsigned char key[64], val[256];
	struct bpf_map *m = find_map(map);
	int kn, vn;

	if (!m) return;
	kn = unhex(khex, key, sizeof(key));
	vn = unhex(vhex, val, sizeof(val));
	if (kn < 0 || vn < 0) {
		printf("error update %s %s bad-hex %d\n", map, khex, EINVAL);
		return;
	}
	if (prog) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, prog);
		int o = atoi(off), fd;

		if (!p || o < 0 || o + 4 > vn) {
			printf("error update %s %s noprog %d\n", map, khex, ENOENT);
			return;
		}
		fd = bpf_program__fd(p);
		memcpy(val + o, &fd, 4);
	}
	if (bpf_map_update_elem(bpf_map__fd(m), key, val, BPF_ANY))
		printf("error update %s %s %d\n", map, khex, errno);
}

static void cmd_devupdate(const char *map, const char *khex, const char *ifindex, const char *prog)
{
	unsigned char key[64];
	struct bpf_map *m = find_map(map);
	struct bpf_devmap_val val = { .ifindex = atoi(ifindex) };
	int kn;

	if (!m) return;
	kn = unhex(khex, key, sizeof(key));
	if (kn < 0) {
		printf("error update %s %s bad-hex %d\n", map, khex, EINVAL);
		return;
	}
	if (prog) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, prog);

		if (!p) {
			printf("error update %s %s noprog %d\n", map, khex, ENOENT);
			return;
		}
		val.bpf_prog.fd = bpf_program__fd(p);
	}
	if (bpf_map_update_elem(bpf_map__fd(m), key, &val, BPF_ANY))
		printf("error update %s %s %d\n", map, khex, errno);
}

static void cmd_capture(char *devs)
{
	for (char *d = strtok(devs, " "); d; d = strtok(NULL, " ")) {
		struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
		int fd, sz = 4 << 20;

		if (ncaps == MAX_CAP) break;
		sll.sll_ifindex = if_nametoindex(d);
		fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
		if (fd < 0 || !sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
			printf("error capture %s %d\n", d, errno);
			if (fd >= 0) close(fd);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
		snprintf(caps[ncaps].dev, IFNAMSIZ, "%s", d);
		caps[ncaps++].fd = fd;
	}
}

static void cmd_inject(const char *dev, const char *hex)
{
	static unsigned char frame[65536];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	int n = unhex(hex, frame, sizeof(frame)), fd;

	sll.sll_ifindex = if_nametoindex(dev);
	sll.sll_halen = ETH_ALEN;
	if (n < ETH_HLEN || !sll.sll_ifindex) {
		printf("error inject %s %d\n", dev, EINVAL);
		return;
	}
	memcpy(sll.sll_addr, frame, ETH_ALEN);
	fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: this socket receives nothing */
	if (fd < 0 || sendto(fd, frame, n, 0, (struct sockaddr *)&sll, sizeof(sll)) != n)
		printf("error inject %s %d\n", dev, errno);
	if (fd >= 0) close(fd);
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void cmd_wait(const char *map, long want, long ms)
{
	struct bpf_map *m = find_map(map);
	__u32 n, k;
	__u64 v, sum;

	if (!m) return;
	n = bpf_map__max_entries(m);
	for (long t = 0; t <= ms; t++) {
		sum = 0;
		for (k = 0; k < n; k++)
			if (bpf_map_lookup_elem(bpf_map__fd(m), &k, &v) == 0) sum += v;
		if ((long)sum >= want) return;
		msleep(1);
	}
	printf("error wait %s %ld %d\n", map, want, ETIMEDOUT);
}

static void cmd_collect(void)
{
	static unsigned char buf[65536];

	for (int i = 0; i < ncaps; i++) {
		for (;;) {
			struct sockaddr_ll from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(caps[i].fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
					     (struct sockaddr *)&from, &fl);

			if (n < 0) break;
			if (from.sll_pkttype == PACKET_OUTGOING) continue;
			if (n > (ssize_t)sizeof(buf)) n = sizeof(buf);
			printf("frame %s %d ", caps[i].dev, from.sll_pkttype);
			puthex(buf, n);
			printf("\n");
		}
	}
}

static void cmd_dump(const char *map)
{
	unsigned char key[64], next[64], val[256];
	struct bpf_map *m = find_map(map);
	__u32 ks, vs;
	int fd, first = 1;

	if (!m) return;
	fd = bpf_map__fd(m);
	ks = bpf_map__key_size(m);
	vs = bpf_map__value_size(m);
	if (ks > sizeof(key) || vs > sizeof(val)) {
		printf("error dump %s %d\n", map, E2BIG);
		return;
	}
	while (bpf_map_get_next_key(fd, first ? NULL : key, next) == 0) {
		first = 0;
		memcpy(key, next, ks);
		if (bpf_map_lookup_elem(fd, key, val)) continue; /* an empty DEVMAP slot */
		printf("entry %s ", map);
		puthex(key, ks);
		printf(" ");
		puthex(val, vs);
		printf("\n");
	}
	printf("dumped %s\n", map);
}

int main(void)
{
	static char line[300000];

	libbpf_set_print(libbpf_quiet);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		char *a[6] = {0}, *rest;
		int n = 0;

		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "capture ", 8) == 0) {
			if (loaded) cmd_capture(line + 8);
			continue;
		}
		rest = line;
		while (n < 6 && (a[n] = strtok(n ? NULL : rest, " ")) != NULL) n++;
		if (n == 0) continue;
		if (strcmp(a[0], "open") == 0 && n == 2) { cmd_open(a[1]); continue; }
		if (!loaded) continue;
		if (strcmp(a[0], "attach") == 0 && n == 3) cmd_attach(a[1], a[2]);
		else if (strcmp(a[0], "update") == 0 && (n == 4 || n == 6)) cmd_update(a[1], a[2], a[3], a[4], a[5]);
		else if (strcmp(a[0], "devupdate") == 0 && (n == 4 || n == 5)) cmd_devupdate(a[1], a[2], a[3], a[4]);
		else if (strcmp(a[0], "inject") == 0 && n == 3) cmd_inject(a[1], a[2]);
		else if (strcmp(a[0], "wait") == 0 && n == 4) cmd_wait(a[1], atol(a[2]), atol(a[3]));
		else if (strcmp(a[0], "sleep") == 0 && n == 2) msleep(atol(a[1]));
		else if (strcmp(a[0], "collect") == 0) cmd_collect();
		else if (strcmp(a[0], "dump") == 0 && n == 2) cmd_dump(a[1]);
		else printf("error bad-command %s %d\n", a[0], EINVAL);
	}
	return 0;
}
