/* bench-tool: the measuring side of `make bench`, one static binary used at
 * every level of the emulated host (see bench/README.md).
 *
 *   bench-tool launch [options] -- VMM ARGS...
 *       run a VMM, timestamp its start, its first guest entry (tracefs
 *       kvm:kvm_entry, mono clock) and the guest's init marker (a console
 *       line), count its exits to userspace (kvm:kvm_userspace_exit), sample
 *       its memory at the marker, and print one BENCH-BOOT line
 *   bench-tool loops            CPU-bound, CPUID and port-read loops (ns/iter)
 *   bench-tool blk DEVICE       O_DIRECT sequential 1 MiB and random 4 KiB I/O
 *   bench-tool net-serve PORT   TCP peer for net-client (runs a level below)
 *   bench-tool net-client IP PORT   TCP throughput, guest to host and back
 *   bench-tool now              CLOCK_MONOTONIC, seconds
 *   bench-tool mem PID          rss_kb= (VmRSS) guest_kb= (Rss of the largest
 *                               anonymous mapping: guest RAM)
 *   bench-tool hmp SOCKET CMD...    QEMU's human monitor on a unix socket: each
 *                               CMD in turn, its reply and the ms it took
 *   bench-tool qemu-save SOCKET FILE  stop, migrate to FILE (exec:cat), cont:
 *                               one BENCH-QSAVE line (snapshot rows)
 *   bench-tool restore [options] -- CMD...  time a restore: until CMD
 *                               returns, until a console line appears after
 *                               a marker in a log, until QEMU says running
 *
 * Every result is one line starting with "BENCH-", key=value pairs after it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define TRACEFS     "/sys/kernel/tracing"
#define INSTANCE    TRACEFS "/instances/benchentry"
#define HIST_SPEC   "hist:keys=common_pid:size=256"
#define PIO_PORT    0x1e0 /* claimed by neither nestvm nor QEMU's pc, q35, microvm */

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench-tool: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tracefs ---- */

static bool write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok;
}

/* Read up to len-1 bytes of path into buf; the length read, or -1. */
static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while (got + 1 < len && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

static long long trace_exits(void);

static bool trace_setup(void)
{
	struct stat st;

	if (stat(TRACEFS "/events/kvm/kvm_entry", &st) != 0) {
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
		if (stat(TRACEFS "/events/kvm/kvm_entry", &st) != 0)
			return false;
	}
	/* Exits to userspace: a histogram keyed by pid, set up once and read
	 * before and after (re-creating triggers synchronises every CPU: the
	 * less of that in the emulated host, the fewer of its lockups). */
	if (trace_exits() < 0 &&
	    !write_file(TRACEFS "/events/kvm/kvm_userspace_exit/trigger", HIST_SPEC))
		return false;
	/* First guest entry: its own buffer that keeps its first events. */
	mkdir(INSTANCE, 0755);
	write_file(INSTANCE "/tracing_on", "0");
	write_file(INSTANCE "/events/kvm/kvm_entry/enable", "0");
	if (!write_file(INSTANCE "/trace_clock", "mono") ||
	    !write_file(INSTANCE "/buffer_size_kb", "64") ||
	    !write_file(INSTANCE "/options/overwrite", "0") ||
	    !write_file(INSTANCE "/trace", "") ||
	    !write_file(INSTANCE "/events/kvm/kvm_entry/enable", "1") ||
	    !write_file(INSTANCE "/tracing_on", "1"))
		return false;
	return true;
}

/* Total hits of the exit histogram, or -1. */
static long long trace_exits(void)
{
	static char buf[1 << 16];
	char *p;

	if (read_file(TRACEFS "/events/kvm/kvm_userspace_exit/hist", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "Hits: ");
	return p ? strtoll(p + 6, NULL, 10) : -1;
}

/* Mono-clock time of the first kvm_entry in the instance, or -1. */
static double trace_first_entry(void)
{
	static char buf[1 << 16];
	char *line, *save = NULL, *k;

	write_file(INSTANCE "/tracing_on", "0");
	if (read_file(INSTANCE "/trace", buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || !(k = strstr(line, ": kvm_entry:")))
			continue;
		*k = '\0';
		k = strrchr(line, ' ');
		return k ? strtod(k + 1, NULL) : -1;
	}
	return -1;
}

/* Diagnostics (BENCH_DIAG set): per-key histograms of the kvm events
 * "event:keys" named in DIAG_EVENTS, printed at the end as BENCH-DIAG. */
static const char *const diag_events[] = {
	"kvm_pio:port,rw", "kvm_mmio:gpa,type", "kvm_exit:exit_reason", "kvm_userspace_exit:reason",
};
#define N_DIAG (sizeof(diag_events) / sizeof(diag_events[0]))

static void diag_trigger(const char *ev, bool on)
{
	char path[256], spec[128];
	const char *colon = strchr(ev, ':');

	snprintf(path, sizeof(path), TRACEFS "/events/kvm/%.*s/trigger", (int)(colon - ev), ev);
	snprintf(spec, sizeof(spec), "%shist:keys=%s:sort=hitcount.descending:size=4096",
		 on ? "" : "!", colon + 1);
	write_file(path, spec);
}

static void diag_setup(void)
{
	for (size_t i = 0; i < N_DIAG; i++) {
		diag_trigger(diag_events[i], false);
		diag_trigger(diag_events[i], true);
	}
}

static void diag_report(const char *tag)
{
	static char buf[1 << 17];
	char path[256], *line, *save;
	int shown;

	for (size_t i = 0; i < N_DIAG; i++) {
		const char *ev = diag_events[i], *colon = strchr(ev, ':');
		snprintf(path, sizeof(path), TRACEFS "/events/kvm/%.*s/hist", (int)(colon - ev), ev);
		if (read_file(path, buf, sizeof(buf)) < 0)
			continue;
		shown = 0;
		save = NULL;
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (line[0] == '#' || line[0] == '\0')
				continue;
			if (shown++ < 14 || strstr(line, "Hits:"))
				printf("BENCH-DIAG tag=%s %.*s %s\n", tag, (int)(colon - ev), ev, line);
		}
		diag_trigger(ev, false);
	}
}

static void trace_teardown(void)
{
	write_file(INSTANCE "/events/kvm/kvm_entry/enable", "0");
}

/* ---- memory ---- */

/* VmRSS of pid and the Rss of its largest anonymous mapping (guest RAM),
 * in KiB. */
static void sample_memory(pid_t pid, long *rss_kb, long *guest_kb)
{
	char path[64], line[512];
	unsigned long long lo, hi, best = 0;
	bool cur_anon = false, cur_best = false;
	FILE *f;

	*rss_kb = *guest_kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r"))) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "VmRSS: %ld", rss_kb) == 1)
				break;
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char name[256] = "";
		long kb;

		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %255s", &lo, &hi, name) >= 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			cur_anon = name[0] == '\0';
			cur_best = cur_anon && hi - lo > best;
			if (cur_best)
				best = hi - lo;
		} else if (cur_best && sscanf(line, "Rss: %ld", &kb) == 1) {
			*guest_kb = kb;
		}
	}
	fclose(f);
}

/* Diagnostics: the mappings holding more than 128 KiB resident. */
static void diag_smaps(const char *tag, pid_t pid)
{
	char path[64], line[512], cur[512] = "";
	FILE *f;
	long kb;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(cur, sizeof(cur), "%s", line);
		} else if (sscanf(line, "Rss: %ld", &kb) == 1 && kb > 128) {
			printf("BENCH-DIAG tag=%s smaps rss_kb=%ld %s\n", tag, kb, cur);
		}
	}
	fclose(f);
}

/* ---- launch ---- */

struct launch {
	const char *tag, *marker;
	unsigned int timeout_s;
	bool quiet; /* false: pass only results and errors; true: every line */
};

static void launch_usage(void)
{
	die("usage: bench-tool launch --tag TAG [--marker STR] [--timeout S] -- VMM ARGS...");
}

/* Lines worth passing up: results from the guest (and from levels below
 * it), the VMM's own exit count, errors. */
static void pass_line(const struct launch *l, const char *line)
{
	const char *b = strstr(line, "BENCH-");

	if (l->quiet && !b)
		printf("BENCH-ALL tag=%s %s\n", l->tag, line);
	else if (b)
		printf("BENCH-G tag=%s %s\n", l->tag, b);
	else if (strstr(line, "exits to userspace:"))
		printf("BENCH-G tag=%s BENCH-SELF %s\n", l->tag, line);
	else if ((strstr(line, "error") || strstr(line, "rror:") ||
			       strstr(line, "Kernel panic") || strstr(line, "qemu-system")))
		printf("BENCH-NOTE tag=%s %s\n", l->tag, line);
	fflush(stdout);
}

static int cmd_launch(int argc, char **argv)
{
	struct launch l = { .tag = "?", .marker = "BENCH-INIT", .timeout_s = 600 };
	char tail[16][256];
	unsigned int ntail = 0;
	int i, pfd[2], status = 0, rc;
	double t0, t_marker = -1, t_entry, t_end;
	long rss = -1, guest = -1;
	long long exits_marker = -1, exits_total, exits_base;
	bool traced, diag;
	char buf[4096], line[4096];
	size_t llen = 0;
	pid_t pid;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--") ) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--tag") && i + 1 < argc) {
			l.tag = argv[++i];
		} else if (!strcmp(argv[i], "--marker") && i + 1 < argc) {
			l.marker = argv[++i];
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			l.timeout_s = (unsigned int)strtoul(argv[++i], NULL, 10);
		} else {
			launch_usage();
		}
	}
	if (i >= argc)
		launch_usage();
	traced = trace_setup();
	exits_base = traced ? trace_exits() : -1;
	diag = traced && getenv("BENCH_DIAG");
	if (diag)
		diag_setup();
	l.quiet = getenv("BENCH_ALL") != NULL; /* then every line passes */
	if (pipe2(pfd, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	t0 = now_s();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp(argv[i], argv + i);
		fprintf(stderr, "bench-tool: exec %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		double left = t0 + l.timeout_s - now_s();
		ssize_t n;

		if (left <= 0) {
			printf("BENCH-NOTE tag=%s timed out after %u s; killing the VMM\n", l.tag,
			       l.timeout_s);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = read(pfd[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		for (ssize_t j = 0; j < n; j++) {
			char c = buf[j];
			if (c != '\n' && c != '\r' && llen + 1 < sizeof(line)) {
				line[llen++] = c;
				continue;
			}
			if (c != '\n' && c != '\r')
				continue;
			line[llen] = '\0';
			llen = 0;
			if (!line[0])
				continue;
			if (t_marker < 0 && strstr(line, l.marker) && !strstr(line, "BENCH-G")) {
				t_marker = now_s();
				exits_marker = traced ? trace_exits() - exits_base : -1;
				sample_memory(pid, &rss, &guest);
				if (diag)
					diag_smaps(l.tag, pid);
			}
			{
				size_t tl = strlen(line);
				if (tl >= sizeof(tail[0]))
					tl = sizeof(tail[0]) - 1;
				memcpy(tail[ntail % 16], line, tl);
				tail[ntail++ % 16][tl] = '\0';
			}
			pass_line(&l, line);
		}
	}
	close(pfd[0]);
	waitpid(pid, &status, 0);
	t_end = now_s();
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	exits_total = traced ? trace_exits() - exits_base : -1;
	t_entry = traced ? trace_first_entry() : -1;
	if (diag)
		diag_report(l.tag);
	if (traced)
		trace_teardown();
	if (rc != 0 || t_marker < 0) {
		printf("BENCH-NOTE tag=%s VMM exit %d%s; its last lines:\n", l.tag, rc,
		       t_marker < 0 ? ", no init marker" : "");
		for (unsigned int k = ntail > 16 ? ntail - 16 : 0; k < ntail; k++)
			printf("BENCH-NOTE tag=%s | %s\n", l.tag, tail[k % 16]);
	}
	printf("BENCH-BOOT tag=%s rc=%d", l.tag, rc);
	if (t_marker >= 0)
		printf(" to_init_ms=%.1f", (t_marker - t0) * 1e3);
	if (t_entry > 0 && t_entry >= t0)
		printf(" startup_ms=%.1f", (t_entry - t0) * 1e3);
	if (t_entry > 0 && t_marker >= 0 && t_entry >= t0)
		printf(" kernel_ms=%.1f", (t_marker - t_entry) * 1e3);
	printf(" total_ms=%.1f", (t_end - t0) * 1e3);
	if (rss >= 0)
		printf(" rss_kb=%ld", rss);
	if (guest >= 0)
		printf(" guest_kb=%ld", guest);
	if (rss >= 0 && guest >= 0)
		printf(" overhead_kb=%ld", rss - guest);
	if (exits_marker >= 0)
		printf(" exits_init=%lld", exits_marker);
	if (exits_total >= 0)
		printf(" exits_total=%lld", exits_total);
	printf("\n");
	fflush(stdout);
	return rc;
}

/* ---- loops ---- */

static volatile uint64_t sink;

/* Run fn(batch) until at least min_s seconds have passed: ns per iteration. */
static double time_loop(void (*fn)(unsigned long), unsigned long batch, double min_s)
{
	unsigned long long iters = 0;
	double t0 = now_s(), t;

	do {
		fn(batch);
		iters += batch;
		t = now_s();
	} while (t - t0 < min_s);
	return (t - t0) * 1e9 / (double)iters;
}

static void loop_cpu(unsigned long n)
{
	uint64_t x = sink | 1;

	for (unsigned long i = 0; i < n; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		__asm__ volatile("" : "+r"(x));
	}
	sink = x;
}

static void loop_cpuid(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		uint32_t a = 0, b, c = 0, d;
		__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
		sink += b;
	}
}

/* Port reads through /dev/port (a pread there is one inb in the kernel):
 * the same exit to the VMM as an inb from user space, without ioperm(),
 * whose I/O bitmap the nested SVM of the emulated host does not always
 * honour (user-space inb faulted under QEMU's pc machine). */
static int port_fd = -1;

static void loop_pio(unsigned long n)
{
	uint8_t b;

	for (unsigned long i = 0; i < n; i++)
		if (pread(port_fd, &b, 1, PIO_PORT) == 1)
			sink += b;
}

static int cmd_loops(int argc, char **argv)
{
	double secs = argc > 0 ? strtod(argv[0], NULL) : 0.5;
	double cpu, cpuid, pio = -1;

	cpu = time_loop(loop_cpu, 1000000, secs);
	cpuid = time_loop(loop_cpuid, 100, secs);
	port_fd = open("/dev/port", O_RDONLY | O_CLOEXEC);
	if (port_fd >= 0)
		pio = time_loop(loop_pio, 100, secs);
	printf("BENCH-LOOPS cpu_ns=%.3f cpuid_ns=%.1f", cpu, cpuid);
	if (pio >= 0)
		printf(" pio_ns=%.1f", pio);
	printf("\n");
	return 0;
}

/* ---- virtio-blk ---- */

static int cmd_blk(int argc, char **argv)
{
	const size_t big = 1 << 20, small = 4096;
	uint64_t size, nblk;
	double t0, t, secs = argc > 1 ? strtod(argv[1], NULL) : 1.5;
	double sr, sw, rr, rw;
	unsigned long long n;
	uint64_t rnd = 88172645463325252ULL;
	void *buf;
	int fd;

	if (argc < 1)
		die("usage: bench-tool blk DEVICE [SECONDS]");
	fd = open(argv[0], O_RDWR | O_DIRECT);
	if (fd < 0)
		die("open %s: %s", argv[0], strerror(errno));
	if (ioctl(fd, BLKGETSIZE64, &size) < 0)
		die("BLKGETSIZE64 %s: %s", argv[0], strerror(errno));
	if (posix_memalign(&buf, 4096, big))
		die("out of memory");
	memset(buf, 0x5a, big);
	nblk = size / big;
	if (nblk == 0)
		die("%s is smaller than 1 MiB", argv[0]);

#define TIMED(var, unit, op)                                              \
	do {                                                              \
		n = 0;                                                    \
		t0 = now_s();                                             \
		do {                                                      \
			op;                                               \
			n++;                                              \
			t = now_s();                                      \
		} while (t - t0 < secs);                                  \
		var = (double)n * (unit) / (t - t0);                      \
	} while (0)
#define NEXT_RND() (rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17, rnd)

	TIMED(sw, 1.0 / 1048576 * big,
	      if (pwrite(fd, buf, big, (off_t)((n % nblk) * big)) != (ssize_t)big)
		      die("write: %s", strerror(errno)));
	if (fsync(fd) < 0)
		die("fsync: %s", strerror(errno));
	TIMED(sr, 1.0 / 1048576 * big,
	      if (pread(fd, buf, big, (off_t)((n % nblk) * big)) != (ssize_t)big)
		      die("read: %s", strerror(errno)));
	TIMED(rr, 1.0,
	      if (pread(fd, buf, small, (off_t)(NEXT_RND() % (size / small) * small)) !=
		  (ssize_t)small) die("read: %s", strerror(errno)));
	TIMED(rw, 1.0,
	      if (pwrite(fd, buf, small, (off_t)(NEXT_RND() % (size / small) * small)) !=
		  (ssize_t)small) die("write: %s", strerror(errno)));
	fsync(fd);
	printf("BENCH-BLK seq_read_mibs=%.1f seq_write_mibs=%.1f rand_read_iops=%.0f "
	       "rand_write_iops=%.0f\n", sr, sw, rr, rw);
	close(fd);
	free(buf);
	return 0;
}

/* ---- virtio-net ---- */

static char netbuf[1 << 16];

static _Noreturn void cmd_net_serve(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, s;

	if (argc < 1)
		die("usage: bench-tool net-serve PORT");
	signal(SIGPIPE, SIG_IGN);
	a.sin_port = htons((uint16_t)atoi(argv[0]));
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 4) < 0)
		die("listen on port %s: %s", argv[0], strerror(errno));
	for (;;) {
		int c = accept(s, NULL, NULL);
		char cmd;

		if (c < 0)
			continue;
		if (read(c, &cmd, 1) == 1 && cmd == 'S') {
			/* The guest sends until it shuts down its side; answer
			 * with the byte count. */
			uint64_t total = 0;
			ssize_t n;
			while ((n = read(c, netbuf, sizeof(netbuf))) > 0)
				total += (uint64_t)n;
			if (write(c, &total, sizeof(total)) < 0)
				(void)0;
		} else if (cmd == 'R') {
			/* Send until the guest closes. */
			while (write(c, netbuf, sizeof(netbuf)) > 0)
				;
		}
		close(c);
	}
}

static int net_connect(const char *ip, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_port = htons((uint16_t)atoi(port));
	if (s < 0 || inet_pton(AF_INET, ip, &a.sin_addr) != 1 ||
	    connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect %s:%s: %s", ip, port, strerror(errno));
	return s;
}

static int cmd_net_client(int argc, char **argv)
{
	double secs = argc > 2 ? strtod(argv[2], NULL) : 2.0, t0, t, tx, rx;
	uint64_t total = 0, got = 0;
	ssize_t n;
	int s;

	if (argc < 2)
		die("usage: bench-tool net-client IP PORT [SECONDS]");
	signal(SIGPIPE, SIG_IGN);
	/* Guest to host: send for secs, then wait for the peer's count. */
	s = net_connect(argv[0], argv[1]);
	if (write(s, "S", 1) != 1)
		die("send: %s", strerror(errno));
	t0 = now_s();
	do {
		if ((n = write(s, netbuf, sizeof(netbuf))) <= 0)
			die("send: %s", strerror(errno));
		t = now_s();
	} while (t - t0 < secs);
	shutdown(s, SHUT_WR);
	if (read(s, &total, sizeof(total)) != (ssize_t)sizeof(total))
		die("no byte count from the peer");
	tx = (double)total / 1048576 / (now_s() - t0);
	close(s);
	/* Host to guest: read for secs. */
	s = net_connect(argv[0], argv[1]);
	if (write(s, "R", 1) != 1)
		die("send: %s", strerror(errno));
	t0 = now_s();
	do {
		if ((n = read(s, netbuf, sizeof(netbuf))) <= 0)
			die("receive: %s", n < 0 ? strerror(errno) : "connection closed");
		got += (uint64_t)n;
		t = now_s();
	} while (t - t0 < secs);
	rx = (double)got / 1048576 / (t - t0);
	close(s);
	printf("BENCH-NET tx_mibs=%.2f rx_mibs=%.2f\n", tx, rx);
	return 0;
}

/* ---- snapshot rows: QEMU's monitor, restore timing ---- */

static int cmd_mem(int argc, char **argv)
{
	long rss, guest;

	if (argc < 1)
		die("usage: bench-tool mem PID");
	sample_memory((pid_t)atoi(argv[0]), &rss, &guest);
	printf("rss_kb=%ld guest_kb=%ld\n", rss, guest);
	return rss < 0;
}

struct hmp {
	int fd;
	char buf[1 << 16];
	size_t len;
};

#define HMP_PROMPT "(qemu) "

/* Read until the buffer ends with the prompt (or timeout_s): 0, or -1. */
static int hmp_wait_prompt(struct hmp *h, double timeout_s)
{
	double end = now_s() + timeout_s;

	for (;;) {
		struct pollfd p = { .fd = h->fd, .events = POLLIN };
		size_t pl = strlen(HMP_PROMPT);
		double left = end - now_s();
		ssize_t n;

		if (h->len >= pl && !memcmp(h->buf + h->len - pl, HMP_PROMPT, pl))
			return 0;
		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (h->len + 1 >= sizeof(h->buf)) /* keep the tail */
			h->len = 0;
		n = read(h->fd, h->buf + h->len, sizeof(h->buf) - 1 - h->len);
		if (n <= 0)
			return -1;
		h->len += (size_t)n;
		h->buf[h->len] = '\0';
	}
}

/* Connect (retrying until timeout_s) and read the banner: 0 or -1. */
static int hmp_open(struct hmp *h, const char *path, double timeout_s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	double end = now_s() + timeout_s;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	for (;;) {
		h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (h->fd < 0)
			die("socket: %s", strerror(errno));
		if (!connect(h->fd, (struct sockaddr *)&a, sizeof(a)))
			break;
		close(h->fd);
		h->fd = -1;
		if (now_s() > end)
			return -1;
		usleep(2000);
	}
	h->len = 0;
	return hmp_wait_prompt(h, end - now_s() > 5 ? end - now_s() : 5);
}

/* Send cmd and wait for the next prompt; the reply (without the echoed
 * command line and the prompt, \r dropped) in out. Milliseconds, or -1. */
static double hmp_cmd(struct hmp *h, const char *cmd, char *out, size_t outlen,
		      double timeout_s)
{
	double t0 = now_s();
	char line[1024];
	size_t o = 0;
	char *p;

	h->len = 0;
	snprintf(line, sizeof(line), "%s\n", cmd);
	if (write(h->fd, line, strlen(line)) != (ssize_t)strlen(line))
		return -1;
	if (hmp_wait_prompt(h, timeout_s) < 0) {
		snprintf(out, outlen, "(no reply within %.0f s) %.2000s", timeout_s, h->buf);
		return -1;
	}
	h->len -= strlen(HMP_PROMPT);
	h->buf[h->len] = '\0';
	/* The echo ends at the first newline. */
	p = strchr(h->buf, '\n');
	p = p ? p + 1 : h->buf;
	for (; *p && o + 1 < outlen; p++)
		if (*p != '\r')
			out[o++] = *p;
	while (o > 0 && out[o - 1] == '\n')
		o--;
	out[o] = '\0';
	return (now_s() - t0) * 1e3;
}

static int cmd_hmp(int argc, char **argv)
{
	struct hmp h;
	char out[16384];
	int rc = 0;

	if (argc < 2)
		die("usage: bench-tool hmp SOCKET CMD...");
	if (hmp_open(&h, argv[0], 10) < 0)
		die("no QEMU monitor at %s", argv[0]);
	for (int i = 1; i < argc; i++) {
		double ms = hmp_cmd(&h, argv[i], out, sizeof(out), 600);

		printf("%s\n", out);
		fprintf(stderr, "hmp: %s: %.1f ms\n", argv[i], ms);
		if (ms < 0)
			rc = 1;
	}
	close(h.fd);
	return rc;
}

/* One line of text for a key=value field: spaces to '_'. */
static void one_word(char *s)
{
	for (; *s; s++)
		if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '=')
			*s = '_';
}

/* bench-tool qemu-save SOCKET FILE: the QEMU side of "snapshot": stop,
 * migrate "exec:cat > FILE" (no bandwidth cap), cont. One line:
 *   BENCH-QSAVE stop_ms= migrate_ms= cont_ms= total_ms= status=
 * (migrate_ms: migrate -d sent until info migrate no longer says active)
 * (total: stop sent to cont answered, the guest stopped all along), or
 * BENCH-QSAVEERR with QEMU's words when migrate is refused or fails. */
static int cmd_qemu_save(int argc, char **argv)
{
	struct hmp h;
	char out[16384], cmd[1200];
	double t0, stop, mig, cont, info;
	const char *st;

	if (argc < 2)
		die("usage: bench-tool qemu-save SOCKET FILE");
	if (hmp_open(&h, argv[0], 10) < 0)
		die("no QEMU monitor at %s", argv[0]);
	hmp_cmd(&h, "migrate_set_parameter max-bandwidth 100G", out, sizeof(out), 10);
	if (out[0])
		printf("BENCH-NOTE qemu-save: max-bandwidth: %s\n", out);
	t0 = now_s();
	stop = hmp_cmd(&h, "stop", out, sizeof(out), 60);
	/* -d: HMP's own wait for the end polls once a second; poll here. */
	snprintf(cmd, sizeof(cmd), "migrate -d \"exec:cat > %s\"", argv[1]);
	mig = hmp_cmd(&h, cmd, out, sizeof(out), 600);
	if (mig < 0 || out[0]) {
		/* An error (a migration blocker) is the reply; success is silent. */
		printf("BENCH-QSAVEERR migrate: %s\n", out[0] ? out : "no reply");
	}
	{
		char status[64] = "?";

		for (;;) {
			info = hmp_cmd(&h, "info migrate", out, sizeof(out), 60);
			st = strstr(out, "Migration status: ");
			snprintf(status, sizeof(status), "?");
			if (st)
				sscanf(st + strlen("Migration status: "), "%63s", status);
			if (info < 0 || (strcmp(status, "active") && strcmp(status, "setup") &&
					 strcmp(status, "device") && strcmp(status, "pre-switchover")))
				break;
			usleep(5000);
		}
		mig = (now_s() - t0) * 1e3 - stop;
		if (strcmp(status, "completed"))
			printf("BENCH-QSAVEERR info migrate: %s\n", out);
		cont = hmp_cmd(&h, "cont", out, sizeof(out), 60);
		if (out[0])
			printf("BENCH-NOTE qemu-save: cont: %s\n", out);
		one_word(status);
		printf("BENCH-QSAVE stop_ms=%.1f migrate_ms=%.1f cont_ms=%.1f info_ms=%.1f "
		       "total_ms=%.1f status=%s\n", stop, mig, cont, info, (now_s() - t0) * 1e3,
		       status);
		close(h.fd);
		return strcmp(status, "completed") != 0;
	}
}

/* bench-tool restore [--log FILE] [--offset N] [--after TEXT] [--match TEXT]
 *     [--hmp SOCKET] [--out FILE] [--timeout S] -- CMD...
 * Runs CMD (stdout and stderr to --out) and times from its start:
 *   cmd_ms      until CMD exits (not with --hmp: CMD is the VMM, left running)
 *   guest_ms    until a line with TEXT (--match) appears in FILE after byte
 *               N, after the first --after TEXT there when given
 *   running_ms  with --hmp: polls "info status" on QEMU's monitor; "cont"
 *               when it says paused (an incoming migration of a stopped
 *               guest ends paused), until it says running
 * One line: BENCH-RESTORE cmd_ms= rc= running_ms= guest_ms= pid= (-1: not seen). */
static int cmd_restore(int argc, char **argv)
{
	const char *log = NULL, *after = NULL, *match = NULL, *sock = NULL, *outf = "/dev/null";
	double timeout_s = 120, t0, t_cmd = -1, t_run = -1, t_guest = -1, t_after = -1;
	long long off = 0;
	int i, rc = -1, logfd = -1, conts = 0;
	char buf[8192], hay[16384], out[4096];
	size_t hlen = 0;
	struct hmp h = { .fd = -1 };
	double next_poll = 0;
	pid_t pid;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (i + 1 >= argc) {
			die("restore: %s needs a value", argv[i]);
		} else if (!strcmp(argv[i], "--log")) {
			log = argv[++i];
		} else if (!strcmp(argv[i], "--offset")) {
			off = atoll(argv[++i]);
		} else if (!strcmp(argv[i], "--after")) {
			after = argv[++i];
		} else if (!strcmp(argv[i], "--match")) {
			match = argv[++i];
		} else if (!strcmp(argv[i], "--hmp")) {
			sock = argv[++i];
		} else if (!strcmp(argv[i], "--out")) {
			outf = argv[++i];
		} else if (!strcmp(argv[i], "--timeout")) {
			timeout_s = strtod(argv[++i], NULL);
		} else {
			die("restore: unknown option %s", argv[i]);
		}
	}
	if (i >= argc)
		die("usage: bench-tool restore [options] -- CMD...");
	if (!after)
		t_after = 0;
	t0 = now_s();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		int o = open(outf, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);

		dup2(nul, 0);
		if (o >= 0) {
			dup2(o, 1);
			dup2(o, 2);
		}
		setpgid(0, 0);
		execvp(argv[i], argv + i);
		fprintf(stderr, "bench-tool: exec %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	for (;;) {
		double t = now_s();
		int status;

		if (t - t0 > timeout_s)
			break;
		if (!sock && t_cmd < 0 && waitpid(pid, &status, WNOHANG) == pid) {
			t_cmd = t;
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		if (sock && waitpid(pid, &status, WNOHANG) == pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			printf("BENCH-NOTE restore: the VMM exited (%d) before it ran\n", rc);
			break;
		}
		if (log && match && t_guest < 0) {
			if (logfd < 0 && (logfd = open(log, O_RDONLY | O_CLOEXEC)) >= 0)
				lseek(logfd, off, SEEK_SET);
			if (logfd >= 0) {
				ssize_t n;

				while ((n = read(logfd, buf, sizeof(buf))) > 0) {
					/* A window of the newest bytes, NULs dropped. */
					for (ssize_t j = 0; j < n; j++) {
						if (!buf[j])
							continue;
						if (hlen + 1 >= sizeof(hay)) {
							memmove(hay, hay + sizeof(hay) / 2, hlen - sizeof(hay) / 2);
							hlen -= sizeof(hay) / 2;
						}
						hay[hlen++] = buf[j];
					}
					hay[hlen] = '\0';
					if (t_after < 0) {
						char *a = strstr(hay, after);

						if (a) {
							t_after = t;
							a += strlen(after);
							hlen = strlen(a);
							memmove(hay, a, hlen + 1);
						}
					}
					if (t_after >= 0 && strstr(hay, match)) {
						t_guest = t;
						break;
					}
				}
			}
		}
		if (sock && t_run < 0 && t >= next_poll) {
			if (h.fd < 0 && hmp_open(&h, sock, 0.001) < 0) {
				if (h.fd >= 0)
					close(h.fd);
				h.fd = -1;
			}
			if (h.fd >= 0) {
				hmp_cmd(&h, "info status", out, sizeof(out), 30);
				if (strstr(out, "running")) {
					t_run = now_s();
				} else if (strstr(out, "paused") && !strstr(out, "inmigrate") && conts < 5) {
					hmp_cmd(&h, "cont", out, sizeof(out), 30);
					conts++;
					if (out[0])
						printf("BENCH-NOTE restore: cont: %s\n", out);
					continue; /* ask again at once */
				}
			}
			next_poll = now_s() + 0.01;
		}
		if ((sock ? t_run >= 0 : t_cmd >= 0) && (!match || t_guest >= 0))
			break;
		usleep(2000);
	}
	if (!sock && t_cmd < 0)
		printf("BENCH-NOTE restore: %s still running after %.0f s\n", argv[i], timeout_s);
	printf("BENCH-RESTORE cmd_ms=%.1f rc=%d running_ms=%.1f guest_ms=%.1f after_ms=%.1f "
	       "conts=%d pid=%d\n", t_cmd < 0 ? -1 : (t_cmd - t0) * 1e3, rc,
	       t_run < 0 ? -1 : (t_run - t0) * 1e3, t_guest < 0 ? -1 : (t_guest - t0) * 1e3,
	       t_after <= 0 ? -1 : (t_after - t0) * 1e3, conts, (int)pid);
	if (h.fd >= 0)
		close(h.fd);
	if (logfd >= 0)
		close(logfd);
	return (sock ? t_run >= 0 : rc == 0) && (!match || t_guest >= 0) ? 0 : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: bench-tool launch|loops|blk|net-serve|net-client|now|mem|hmp|qemu-save|restore ...");
	if (!strcmp(argv[1], "launch"))
		return cmd_launch(argc - 2, argv + 2);
	if (!strcmp(argv[1], "loops"))
		return cmd_loops(argc - 2, argv + 2);
	if (!strcmp(argv[1], "blk"))
		return cmd_blk(argc - 2, argv + 2);
	if (!strcmp(argv[1], "net-serve"))
		cmd_net_serve(argc - 2, argv + 2);
	if (!strcmp(argv[1], "net-client"))
		return cmd_net_client(argc - 2, argv + 2);
	if (!strcmp(argv[1], "now")) {
		printf("%.6f\n", now_s());
		return 0;
	}
	if (!strcmp(argv[1], "mem"))
		return cmd_mem(argc - 2, argv + 2);
	if (!strcmp(argv[1], "hmp"))
		return cmd_hmp(argc - 2, argv + 2);
	if (!strcmp(argv[1], "qemu-save"))
		return cmd_qemu_save(argc - 2, argv + 2);
	if (!strcmp(argv[1], "restore"))
		return cmd_restore(argc - 2, argv + 2);
	die("unknown command %s", argv[1]);
	return 1;
}
