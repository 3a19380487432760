// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel half of the side-by-side benchmark (README.md here): loads
 * live.bpf.o inside a network namespace that the caller made (veths in0 <->
 * in0p and out0 <-> outp0, links up), attaches the sinks to in0p and outp0
 * in driver mode, fills the devmap, then times BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES for the asked cases, one JSON line each.
 *
 *   live --obj live.bpf.o --netns NAME [--cpu N] [--batch 64] [--repeat 1048576]
 *        [--seconds 2] [CASE[:SECONDS]...]
 *
 * With no CASE it serves: one JSON line {"ready":true,...} once set up, then
 * for each line "run CASE SECONDS" on stdin one result line; EOF or "quit"
 * detaches the sinks and exits. Failures are one line {"error":"..."} (a
 * failed case in serve mode is {"case":...,"error":...} and the server goes
 * on); setup failures exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define FRAME_LEN 64

enum { C_DROP, C_TX, C_REDIRECT, C_REDIRECT_MAP, NCASES };
static const char *case_names[NCASES] = { "drop", "tx", "redirect", "redirect-map" };
static const char *prog_names[NCASES] = { "bench_drop", "bench_tx", "bench_redirect", "bench_redirect_map" };
static const unsigned expect_act[NCASES] = { XDP_DROP, XDP_TX, XDP_REDIRECT, XDP_REDIRECT };
/* the sink the frames must reach (0 in0p, 1 outp0; -1: none) */
static const int expect_sink[NCASES] = { -1, 0, 1, 1 };

static struct {
	int cpu, batch, repeat;
	double seconds;
	const char *obj_path, *netns;
} opt = { .cpu = 0, .batch = 64, .repeat = 1 << 20, .seconds = 2 };

static struct bpf_object *obj;
static int prog_fd[NCASES], ncpus;
static int if_in0, if_in0p, if_out0, if_outp0;
static int in0p_attached, outp0_attached;
static unsigned char frame[FRAME_LEN];
static char libbpf_log[4096];
static size_t libbpf_log_len;

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* one error line; the last libbpf warnings (the verifier log...) go to stderr */
static void error_line(const char *cs, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("{");
	if (cs) {
		printf("\"case\":");
		json_str(stdout, cs);
		printf(",");
	}
	printf("\"error\":");
	json_str(stdout, msg);
	printf("}\n");
	fflush(stdout);
	if (libbpf_log_len)
		fprintf(stderr, "%s", libbpf_log);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	if (libbpf_log_len < sizeof(libbpf_log) - 1) {
		int n = vsnprintf(libbpf_log + libbpf_log_len, sizeof(libbpf_log) - libbpf_log_len, fmt, ap);
		if (n > 0)
			libbpf_log_len += n;
		if (libbpf_log_len > sizeof(libbpf_log) - 1)
			libbpf_log_len = sizeof(libbpf_log) - 1;
	}
	return 0;
}

static void cleanup(void)
{
	if (in0p_attached)
		bpf_xdp_detach(if_in0p, XDP_FLAGS_DRV_MODE, NULL);
	if (outp0_attached)
		bpf_xdp_detach(if_outp0, XDP_FLAGS_DRV_MODE, NULL);
	in0p_attached = outp0_attached = 0;
	bpf_object__close(obj);
	obj = NULL;
}

static void die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_line(NULL, "%s", msg);
	cleanup();
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int ifindex_of(const char *name)
{
	int i = if_nametoindex(name);

	if (!i)
		die("if_nametoindex(%s) in netns %s: %s", name, opt.netns, strerror(errno));
	return i;
}

static void mac_of(const char *name, unsigned char *mac)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		die("socket: %s", strerror(errno));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		die("SIOCGIFHWADDR %s: %s", name, strerror(errno));
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
}

/* Ethernet in0 -> in0p, IPv4 10.0.0.1 -> 10.0.0.2, UDP 1024 -> 9, 64 bytes without FCS */
static void build_frame(void)
{
	unsigned char *ip = frame + 14, *udp = ip + 20;
	uint32_t sum = 0;
	int i;

	mac_of("in0p", frame);
	mac_of("in0", frame + 6);
	frame[12] = 0x08; frame[13] = 0x00;
	ip[0] = 0x45;
	ip[1] = 0;
	ip[2] = 0; ip[3] = FRAME_LEN - 14;	/* total length 50 */
	ip[4] = 0; ip[5] = 1;			/* id */
	ip[6] = 0x40; ip[7] = 0;		/* DF */
	ip[8] = 64;				/* TTL */
	ip[9] = 17;				/* UDP */
	ip[12] = 10; ip[13] = 0; ip[14] = 0; ip[15] = 1;
	ip[16] = 10; ip[17] = 0; ip[18] = 0; ip[19] = 2;
	for (i = 0; i < 20; i += 2)
		sum += (ip[i] << 8) | ip[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	ip[10] = sum >> 8; ip[11] = sum & 0xff;
	udp[0] = 1024 >> 8; udp[1] = 1024 & 0xff;
	udp[2] = 0; udp[3] = 9;
	udp[4] = 0; udp[5] = FRAME_LEN - 14 - 20;	/* UDP length 30 */
	udp[6] = 0; udp[7] = 0;				/* no checksum */
	for (i = 42; i < FRAME_LEN; i++)
		frame[i] = i;
}

static long read_sysctl(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static long jit_enable = -1, stats_enabled = -1;

static void setup(void)
{
	char path[512];
	struct bpf_map *m;
	int fd, i;

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(opt.cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity(cpu %d): %s", opt.cpu, strerror(errno));

	/* net.core.bpf_jit_enable exists in the initial netns only */
	jit_enable = read_sysctl("/proc/sys/net/core/bpf_jit_enable");
	stats_enabled = read_sysctl("/proc/sys/kernel/bpf_stats_enabled");
	snprintf(path, sizeof(path), "/run/netns/%s", opt.netns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	if (setns(fd, CLONE_NEWNET) < 0)
		die("setns %s: %s", path, strerror(errno));
	close(fd);

	if_in0 = ifindex_of("in0");
	if_in0p = ifindex_of("in0p");
	if_out0 = ifindex_of("out0");
	if_outp0 = ifindex_of("outp0");
	build_frame();

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		die("libbpf_num_possible_cpus: %s", strerror(-ncpus));

	obj = bpf_object__open_file(opt.obj_path, NULL);
	if (!obj) {
		int e = errno;
		obj = NULL;
		die("open %s: %s", opt.obj_path, strerror(e));
	}
	/* out_ifindex is the only variable in .rodata */
	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);
		size_t sz = 0;
		size_t l = strlen(n);

		if (l >= 7 && !strcmp(n + l - 7, ".rodata")) {
			const void *init = bpf_map__initial_value(m, &sz);
			__u32 v[16];

			if (!init || sz != sizeof(__u32))
				die("%s: unexpected .rodata of %zu bytes", opt.obj_path, sz);
			memcpy(v, init, sz);
			v[0] = if_out0;
			if ((i = bpf_map__set_initial_value(m, v, sz)))
				die("set .rodata: %s", strerror(-i));
		}
	}
	if ((i = bpf_object__load(obj)))
		die("load %s: %s", opt.obj_path, strerror(-i));

	for (i = 0; i < NCASES; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, prog_names[i]);
		if (!p)
			die("no program %s in %s", prog_names[i], opt.obj_path);
		prog_fd[i] = bpf_program__fd(p);
	}
	fd = bpf_object__find_map_fd_by_name(obj, "tx_port");
	if (fd < 0)
		die("map tx_port not found in %s", opt.obj_path);
	{
		__u32 k = 0, v = if_out0;
		if (bpf_map_update_elem(fd, &k, &v, 0) < 0)
			die("devmap tx_port[0] = out0 (%d): %s", if_out0, strerror(errno));
	}

	struct bpf_program *si = bpf_object__find_program_by_name(obj, "sink_in");
	struct bpf_program *so = bpf_object__find_program_by_name(obj, "sink_out");
	if (!si || !so)
		die("no sink programs in %s", opt.obj_path);
	if ((i = bpf_xdp_attach(if_in0p, bpf_program__fd(si), XDP_FLAGS_DRV_MODE, NULL)))
		die("attach sink_in to in0p (driver mode): %s", strerror(-i));
	in0p_attached = 1;
	if ((i = bpf_xdp_attach(if_outp0, bpf_program__fd(so), XDP_FLAGS_DRV_MODE, NULL)))
		die("attach sink_out to outp0 (driver mode): %s", strerror(-i));
	outp0_attached = 1;
}

/*
 * The frames a sink's device received: its rx_packets in /proc/net/dev
 * (this process is in the netns, so that is the netns's table), which
 * veth_get_stats64 gives as the XDP frames its NAPI ran.
 */
static int sink_count(int key, __u64 *out)
{
	char want[IF_NAMESIZE];
	char line[512];
	FILE *f;
	int found = 0;

	if (!if_indextoname(key ? if_outp0 : if_in0p, want))
		return -errno;
	f = fopen("/proc/net/dev", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *name = line;
		unsigned long long bytes, packets;

		if (!colon)
			continue;
		*colon = 0;
		while (*name == ' ')
			name++;
		if (strcmp(name, want))
			continue;
		if (sscanf(colon + 1, "%llu %llu", &bytes, &packets) != 2)
			break;
		*out = packets;
		found = 1;
		break;
	}
	fclose(f);
	return found ? 0 : -ENODEV;
}

/* the sink counters, read until two reads 2 ms apart agree (NAPI done) */
static int sinks_settled(__u64 c[2])
{
	__u64 a[2], b[2];
	int e, tries;

	for (tries = 0; tries < 100; tries++) {
		if ((e = sink_count(0, &a[0])) || (e = sink_count(1, &a[1])))
			return e;
		usleep(2000);
		if ((e = sink_count(0, &b[0])) || (e = sink_count(1, &b[1])))
			return e;
		if (a[0] == b[0] && a[1] == b[1])
			break;
	}
	c[0] = b[0];
	c[1] = b[1];
	return 0;
}

static struct xdp_md ctx_in(void)
{
	struct xdp_md md = { 0 };

	md.data = 0;
	md.data_end = FRAME_LEN;
	md.ingress_ifindex = if_in0;
	md.rx_queue_index = 0;
	return md;
}

/* returns 0 (result printed) or -1 (error printed) */
static int run_case(int c, double seconds)
{
	const char *name = case_names[c];
	struct xdp_md md = ctx_in();
	unsigned char out[FRAME_LEN + 64];
	__u64 before[2], after[2], frames = 0, syscalls = 0;
	double kernel_ns = 0, t0, t1, until;
	int e;

	/* check run: not live, one frame, the verdict the case needs */
	LIBBPF_OPTS(bpf_test_run_opts, chk,
		.data_in = frame, .data_size_in = FRAME_LEN,
		.data_out = out, .data_size_out = sizeof(out),
		.ctx_in = &md, .ctx_size_in = sizeof(md),
		.repeat = 1);
	if (bpf_prog_test_run_opts(prog_fd[c], &chk) < 0) {
		error_line(name, "check run of %s (BPF_PROG_TEST_RUN): %s", prog_names[c], strerror(errno));
		return -1;
	}
	if (chk.retval != expect_act[c]) {
		error_line(name, "check run of %s returned %u, expected %u", prog_names[c], chk.retval, expect_act[c]);
		return -1;
	}
	if (c == C_TX && (memcmp(out, frame + 6, 6) || memcmp(out + 6, frame, 6))) {
		error_line(name, "check run of bench_tx did not swap the MACs");
		return -1;
	}

	if ((e = sinks_settled(before))) {
		error_line(name, "read the sinks' rx_packets (/proc/net/dev): %s", strerror(-e));
		return -1;
	}
	md = ctx_in();
	t0 = now_ns();
	until = t0 + seconds * 1e9;
	do {
		LIBBPF_OPTS(bpf_test_run_opts, o,
			.data_in = frame, .data_size_in = FRAME_LEN,
			.ctx_in = &md, .ctx_size_in = sizeof(md),
			.repeat = opt.repeat,
			.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
			.batch_size = opt.batch);
		if (bpf_prog_test_run_opts(prog_fd[c], &o) < 0) {
			error_line(name, "BPF_PROG_TEST_RUN live frames (%s, repeat %d, batch %d): %s",
				   prog_names[c], opt.repeat, opt.batch, strerror(errno));
			return -1;
		}
		frames += opt.repeat;
		syscalls++;
		kernel_ns += (double)o.duration * opt.repeat;
		t1 = now_ns();
	} while (t1 < until);
	if ((e = sinks_settled(after))) {
		error_line(name, "read the sinks' rx_packets (/proc/net/dev): %s", strerror(-e));
		return -1;
	}

	__u64 got_in = after[0] - before[0], got_out = after[1] - before[1];
	__u64 delivered = 0, stray = got_in + got_out;
	if (expect_sink[c] >= 0) {
		delivered = expect_sink[c] ? got_out : got_in;
		stray -= delivered;
	}
	double ns = t1 - t0;
	int cpu_now = sched_getcpu();

	/*
	 * The sinks also count what the stack sends on the links by itself
	 * (the caller disables IPv6 in the netns, so normally nothing): a
	 * few extra frames are reported, not an error; fewer than were run
	 * is (the redirect failed: frames freed instead of delivered).
	 */
	if (expect_sink[c] >= 0 && delivered < frames) {
		error_line(name, "%llu of %llu frames reached %s's sink (%llu the other sink): the %s case is misconfigured",
			   (unsigned long long)delivered, (unsigned long long)frames,
			   expect_sink[c] ? "outp0" : "in0p", (unsigned long long)stray, name);
		return -1;
	}
	__u64 extra = stray + (expect_sink[c] >= 0 ? delivered - frames : 0);
	if (extra > frames / 1000 + 100) {
		error_line(name, "%llu frames more than were run reached the sinks", (unsigned long long)extra);
		return -1;
	}
	printf("{\"case\":\"%s\",\"frames\":%llu,\"ns\":%.0f,\"mpps\":%.3f,\"kernel_ns\":%.0f,\"kernel_mpps\":%.3f,"
	       "\"delivered\":%llu,\"extra\":%llu,\"syscalls\":%llu,\"repeat\":%d,\"batch\":%d,\"cpu\":%d,\"frame_len\":%d}\n",
	       name, (unsigned long long)frames, ns, frames / ns * 1e3, kernel_ns,
	       kernel_ns > 0 ? frames / kernel_ns * 1e3 : 0,
	       (unsigned long long)delivered, (unsigned long long)extra, (unsigned long long)syscalls, opt.repeat, opt.batch, cpu_now, FRAME_LEN);
	fflush(stdout);
	return 0;
}

static int case_index(const char *s)
{
	for (int i = 0; i < NCASES; i++)
		if (!strcmp(s, case_names[i]))
			return i;
	return -1;
}

static void ready_line(void)
{
	struct utsname u;

	uname(&u);
	printf("{\"ready\":true,\"kernel\":");
	json_str(stdout, u.release);
	printf(",\"cpu\":%d,\"batch\":%d,\"repeat\":%d,\"frame_len\":%d,\"bpf_jit_enable\":%ld,\"bpf_stats_enabled\":%ld,"
	       "\"ifindex\":{\"in0\":%d,\"in0p\":%d,\"out0\":%d,\"outp0\":%d}}\n",
	       opt.cpu, opt.batch, opt.repeat, FRAME_LEN,
	       jit_enable, stats_enabled,
	       if_in0, if_in0p, if_out0, if_outp0);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: live --obj live.bpf.o --netns NAME [--cpu N] [--batch 1..256] [--repeat N] [--seconds S] [CASE[:SECONDS]...]\n"
			"cases: drop tx redirect redirect-map; no case: serve \"run CASE SECONDS\" lines on stdin\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int i, first_case = argc, fails = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-') {
			first_case = i;
			break;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(a, "--obj")) opt.obj_path = argv[++i];
		else if (!strcmp(a, "--netns")) opt.netns = argv[++i];
		else if (!strcmp(a, "--cpu")) opt.cpu = atoi(argv[++i]);
		else if (!strcmp(a, "--batch")) opt.batch = atoi(argv[++i]);
		else if (!strcmp(a, "--repeat")) opt.repeat = atoi(argv[++i]);
		else if (!strcmp(a, "--seconds")) opt.seconds = atof(argv[++i]);
		else usage();
	}
	if (!opt.obj_path || !opt.netns || opt.batch < 1 || opt.batch > 256 || opt.repeat < 1 || opt.seconds <= 0)
		usage();
	libbpf_set_print(libbpf_print);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup();

	if (first_case < argc) {
		for (i = first_case; i < argc; i++) {
			char nm[64];
			double s = opt.seconds;
			const char *colon = strchr(argv[i], ':');
			size_t l = colon ? (size_t)(colon - argv[i]) : strlen(argv[i]);
			int c;

			snprintf(nm, sizeof(nm), "%.*s", (int)l, argv[i]);
			if (colon)
				s = atof(colon + 1);
			if ((c = case_index(nm)) < 0 || s <= 0) {
				error_line(nm, "unknown case or bad seconds: %s", argv[i]);
				fails++;
				continue;
			}
			fails += run_case(c, s) < 0;
		}
		cleanup();
		return fails ? 1 : 0;
	}

	ready_line();
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32], nm[64];
		double s;
		int n = sscanf(line, "%31s %63s %lf", cmd, nm, &s), c;

		if (n >= 1 && !strcmp(cmd, "quit"))
			break;
		if (n != 3 || strcmp(cmd, "run") || (c = case_index(nm)) < 0 || s <= 0) {
			line[strcspn(line, "\n")] = 0;
			error_line(NULL, "bad command: %s", line);
			continue;
		}
		libbpf_log_len = 0;
		libbpf_log[0] = 0;
		run_case(c, s);
	}
	cleanup();
	return 0;
}
