/* Unit tests of the migration transport (src/transport/): endpoint strings
 * (good and bad forms), key files (made, read, refused), Unix listeners
 * (mode 0600, a stale socket replaced, a live one and a plain file
 * refused), frames over real sockets both ways (types, empty, several
 * pieces, 8 MiB, the exact bytes on the wire), timeouts (a receive that
 * goes on after one, a send to a peer that stops reading), a peer that
 * closes at a frame boundary or in a frame, garbage, a damaged payload,
 * an oversized length (refused with nothing allocated), TCP on 127.0.0.1
 * with TLS (the right key both ways, TLS 1.3 and 1.2, a wrong key refused
 * on both sides, a peer without TLS, no key, a non-loopback listen, a key
 * file open to others), closing a TCP connection (the last frame arrives
 * though the peer's bytes were left unread; a peer that floods does not
 * hold close) and one thread sending while another receives.
 *
 * The two ends run in two threads. SIGPIPE keeps its default action: a
 * send that raised it would kill the test. Each test has its own
 * temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "transport/transport.h"

#define T_MS     10000            /* generous bound for anything that should work */
#define BIG      (8u << 20)

struct fix {
	char dir[64];
	char sock[100];
	char key[128];
	char key2[128];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/nestvm-xport-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/mig.sock", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key", f->dir);
	snprintf(f->key2, sizeof(f->key2), "%s/other-key", f->dir);
	assert_int_equal(xport_psk_create(f->key, err, sizeof(err)), 0);
	assert_int_equal(xport_psk_create(f->key2, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- raw frames, built here from the documented layout ---- */

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A header claiming len bytes whose CRC is crc. */
static void raw_header(uint8_t *h, uint32_t type, uint64_t len, uint32_t crc)
{
	memcpy(h, "NVMF", 4);
	le32(h + 4, type);
	le64(h + 8, len);
	le32(h + 16, crc);
	le32(h + 20, (uint32_t)crc32(0, h, 20));
}

/* Header and payload into out (room for 24 + len); returns the size. */
static size_t raw_frame(uint8_t *out, uint32_t type, const void *p, size_t len)
{
	raw_header(out, type, len, (uint32_t)crc32(0, p, (uInt)len));
	memcpy(out + XPORT_FRAME_HEADER, p, len);
	return XPORT_FRAME_HEADER + len;
}

static void write_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		assert_true(w > 0);
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
}

/* A connection over one end of a socketpair; *raw is the other end. */
static struct xport_conn *pair_conn(int *raw)
{
	struct xport_conn *c;
	char err[256];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(xport_conn_from_fd(sv[0], &c, err, sizeof(err)), 0);
	*raw = sv[1];
	return c;
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 131 + (i >> 9));
}

/* ---- the other end in a thread ----
 * (No cmocka assertion runs there: its failure jumps back into the test's
 * own thread. The thread records what happened; the test checks it.) */

enum srv_mode { SRV_ECHO, SRV_SEND_CLOSE };

struct srv {
	int lfd;
	struct xport_security sec;
	enum srv_mode mode;
	int accept_r;             /* xport_accept's result */
	int end_r;                /* the receive that ended the echo */
	int frames;
	uint64_t sent, received;
	char version[16];
	char cipher[32];
	bool tls;
	char err[512];
	pthread_t th;
};

static void srv_echo(struct srv *s, struct xport_conn *c)
{
	for (;;) {
		const void *data;
		uint32_t type;
		size_t len;
		int r = xport_recv(c, &type, &data, &len, XPORT_FRAME_MAX, T_MS, s->err, sizeof(s->err));

		if (r < 0) {
			s->end_r = r;
			return;
		}
		s->frames++;
		r = xport_send(c, type, data, len, s->err, sizeof(s->err));
		if (r < 0) {
			s->end_r = r;
			return;
		}
	}
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	struct xport_conn *c = NULL;

	s->accept_r = xport_accept(s->lfd, &s->sec, T_MS, &c, s->err, sizeof(s->err));
	if (s->accept_r < 0)
		return NULL;
	s->tls = xport_is_tls(c);
	snprintf(s->version, sizeof(s->version), "%s", xport_tls_version(c) ? xport_tls_version(c) : "");
	snprintf(s->cipher, sizeof(s->cipher), "%s", xport_tls_cipher(c) ? xport_tls_cipher(c) : "");
	if (s->mode == SRV_ECHO)
		srv_echo(s, c);
	else
		s->end_r = xport_send(c, 7, "bye", 3, s->err, sizeof(s->err));
	s->sent = xport_bytes_sent(c);
	s->received = xport_bytes_received(c);
	xport_close(c);
	return NULL;
}

static void srv_start(struct srv *s, int lfd, const char *psk, enum srv_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->lfd = lfd;
	s->sec.psk_file = psk;
	s->mode = mode;
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_join(struct srv *s)
{
	assert_int_equal(pthread_join(s->th, NULL), 0);
}

static int tcp_listen(const char *psk, struct xport_endpoint *ep)
{
	struct xport_security sec = { .psk_file = psk };
	char err[512];
	int lfd;

	memset(ep, 0, sizeof(*ep));
	ep->kind = XPORT_TCP;
	snprintf(ep->host, sizeof(ep->host), "127.0.0.1");
	ep->port = 0;
	lfd = xport_listen(ep, &sec, err, sizeof(err));
	if (lfd < 0)
		fprintf(stderr, "xport_listen: %s\n", err);
	assert_true(lfd >= 0);
	assert_true(xport_listen_port(lfd) > 0);
	ep->port = (uint16_t)xport_listen_port(lfd);
	return lfd;
}

static int unix_listen(struct fix *f, const char *psk, struct xport_endpoint *ep)
{
	struct xport_security sec = { .psk_file = psk };
	char err[512];
	int lfd;

	memset(ep, 0, sizeof(*ep));
	ep->kind = XPORT_UNIX;
	snprintf(ep->path, sizeof(ep->path), "%s", f->sock);
	lfd = xport_listen(ep, &sec, err, sizeof(err));
	if (lfd < 0)
		fprintf(stderr, "xport_listen: %s\n", err);
	assert_true(lfd >= 0);
	return lfd;
}

static struct xport_conn *client(const struct xport_endpoint *ep, const char *psk)
{
	struct xport_security sec = { .psk_file = psk };
	struct xport_conn *c = NULL;
	char err[512];
	int r = xport_connect(ep, &sec, T_MS, &c, err, sizeof(err));

	if (r < 0)
		fprintf(stderr, "xport_connect: %s\n", err);
	assert_int_equal(r, 0);
	return c;
}

/* One frame sent and its echo checked. */
static void echo_one(struct xport_conn *c, uint32_t type, const void *p, size_t len)
{
	const void *data;
	uint32_t t;
	size_t n;
	char err[512];

	assert_int_equal(xport_send(c, type, p, len, err, sizeof(err)), 0);
	assert_int_equal(xport_recv(c, &t, &data, &n, XPORT_FRAME_MAX, T_MS, err, sizeof(err)), 0);
	assert_int_equal(t, type);
	assert_int_equal(n, len);
	if (len)
		assert_memory_equal(data, p, len);
	else
		assert_null(data);
}

/* The frames every echo test sends: types, an empty one, pieces, 8 MiB. */
static void echo_suite(struct xport_conn *c)
{
	static const uint8_t idx[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	uint8_t *big = malloc(BIG), *page = malloc(8192);
	struct iovec v[3];
	const void *data;
	uint32_t t;
	size_t n;
	char err[512];

	assert_non_null(big);
	assert_non_null(page);
	fill(big, BIG, 7);
	fill(page, 8192, 99);
	echo_one(c, 1, "hello", 5);
	echo_one(c, 0xfffffffe, "x", 1);
	echo_one(c, 2, NULL, 0);
	/* A page batch: an index, then two pages, as one frame. */
	v[0] = (struct iovec){ .iov_base = (void *)idx, .iov_len = sizeof(idx) };
	v[1] = (struct iovec){ .iov_base = page, .iov_len = 4096 };
	v[2] = (struct iovec){ .iov_base = page + 4096, .iov_len = 4096 };
	assert_int_equal(xport_sendv(c, 3, v, 3, err, sizeof(err)), 0);
	assert_int_equal(xport_recv(c, &t, &data, &n, XPORT_FRAME_MAX, T_MS, err, sizeof(err)), 0);
	assert_int_equal(t, 3);
	assert_int_equal(n, sizeof(idx) + 8192);
	assert_memory_equal(data, idx, sizeof(idx));
	assert_memory_equal((const uint8_t *)data + sizeof(idx), page, 8192);
	assert_int_equal(xport_sendv(c, 4, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(xport_recv(c, &t, &data, &n, XPORT_FRAME_MAX, T_MS, err, sizeof(err)), 0);
	assert_int_equal(t, 4);
	assert_int_equal(n, 0);
	echo_one(c, 5, big, BIG);
	free(big);
	free(page);
}

/* Frame bytes of echo_suite, each way. */
#define SUITE_BYTES (6 * XPORT_FRAME_HEADER + 5 + 1 + 0 + 16 + 8192 + 0 + BIG)

static void echo_over(const struct xport_endpoint *ep, int lfd, const char *srv_psk,
		      const char *cli_psk, const char *want_version)
{
	struct xport_conn *c;
	char cipher[32];
	struct srv s;

	srv_start(&s, lfd, srv_psk, SRV_ECHO);
	c = client(ep, cli_psk);
	assert_int_equal(xport_is_tls(c), cli_psk != NULL);
	echo_suite(c);
	assert_int_equal(xport_bytes_sent(c), SUITE_BYTES);
	assert_int_equal(xport_bytes_received(c), SUITE_BYTES);
	if (want_version)
		assert_string_equal(xport_tls_version(c), want_version);
	else
		assert_null(xport_tls_version(c));
	snprintf(cipher, sizeof(cipher), "%s", xport_tls_cipher(c) ? xport_tls_cipher(c) : "");
	xport_close(c);
	srv_join(&s);
	assert_string_equal(s.cipher, cipher);
	assert_int_equal(cipher[0] != '\0', want_version != NULL);
	/* The default's first choice in TLS 1.3 (a PSK rules out SHA-384). */
	if (want_version && strcmp(want_version, "TLS1.3") == 0)
		assert_string_equal(cipher, "AES-128-GCM");
	assert_int_equal(s.accept_r, 0);
	assert_int_equal(s.end_r, -ECONNRESET);   /* our close, at a frame boundary */
	assert_int_equal(s.frames, 6);
	assert_int_equal(s.tls, srv_psk != NULL);
	assert_string_equal(s.version, want_version ? want_version : "");
	assert_int_equal(s.sent, SUITE_BYTES);
	assert_int_equal(s.received, SUITE_BYTES);
}

/* ---- endpoints ---- */

static void test_endpoint_good(void **state)
{
	static const struct { const char *in; enum xport_kind kind; const char *what; unsigned port; } g[] = {
		{ "unix:/run/nestvm/mig.sock", XPORT_UNIX, "/run/nestvm/mig.sock", 0 },
		{ "unix:relative/sock", XPORT_UNIX, "relative/sock", 0 },
		{ "tcp:127.0.0.1:4444", XPORT_TCP, "127.0.0.1", 4444 },
		{ "tcp:[::1]:4444", XPORT_TCP, "::1", 4444 },
		{ "tcp:[fe80::1%eth0]:1", XPORT_TCP, "fe80::1%eth0", 1 },
		{ "tcp:dest-host.example.org:65535", XPORT_TCP, "dest-host.example.org", 65535 },
		{ "tcp:localhost:80", XPORT_TCP, "localhost", 80 },
	};
	char err[512], buf[400], longp[200];
	struct xport_endpoint ep;

	(void)state;
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		assert_int_equal(xport_endpoint_parse(g[i].in, &ep, err, sizeof(err)), 0);
		assert_int_equal(ep.kind, g[i].kind);
		assert_string_equal(g[i].kind == XPORT_UNIX ? ep.path : ep.host, g[i].what);
		assert_int_equal(ep.port, g[i].port);
		xport_endpoint_format(&ep, buf, sizeof(buf));
		assert_string_equal(buf, g[i].in);   /* back to the same string */
	}
	/* The longest path a Unix socket takes: 107 bytes. */
	memset(longp, 'p', sizeof(longp));
	memcpy(longp, "unix:/", 6);
	longp[5 + 107] = '\0';
	assert_int_equal(xport_endpoint_parse(longp, &ep, err, sizeof(err)), 0);
	assert_int_equal(strlen(ep.path), 107);
	/* A cut buffer stays a string. */
	assert_int_equal(xport_endpoint_parse("tcp:127.0.0.1:4444", &ep, err, sizeof(err)), 0);
	xport_endpoint_format(&ep, buf, 8);
	assert_string_equal(buf, "tcp:127");
}

static void test_endpoint_bad(void **state)
{
	static const struct { const char *in; const char *why; } b[] = {
		{ "", "empty" },
		{ "unix:", "no socket path" },
		{ "unix", "neither" },
		{ "udp:1.2.3.4:5", "neither" },
		{ "/tmp/sock", "neither" },
		{ "tcp:", "no ':PORT'" },
		{ "tcp:host", "no ':PORT'" },
		{ "tcp:host:", "no port" },
		{ "tcp::4444", "no host" },
		{ "tcp:host:0", "not from 1 to 65535" },
		{ "tcp:host:65536", "not from 1 to 65535" },
		{ "tcp:host:99999", "not from 1 to 65535" },
		{ "tcp:host:123456", "not a number" },
		{ "tcp:host:12a", "not a number" },
		{ "tcp:host:-1", "not a number" },
		{ "tcp:host:+80", "not a number" },
		{ "tcp:host: 80", "not a number" },
		{ "tcp:::1:4444", "brackets" },
		{ "tcp:[::1]", "no ':PORT' after ']'" },
		{ "tcp:[::1]4444", "no ':PORT' after ']'" },
		{ "tcp:[::1:4444", "no ']'" },
		{ "tcp:[]:4444", "no host" },
		{ "tcp:[localhost]:4444", "not an IPv6 address" },
		{ "tcp:ho st:4444", "not a host name" },
		{ "tcp:host/x:4444", "not a host name" },
	};
	char err[512], longp[300], longh[300];
	struct xport_endpoint ep;

	(void)state;
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		memset(&ep, 0x5a, sizeof(ep));
		err[0] = '\0';
		assert_int_equal(xport_endpoint_parse(b[i].in, &ep, err, sizeof(err)), -EINVAL);
		if (!strstr(err, b[i].why) || !strstr(err, "unix:PATH") || !strstr(err, "tcp:HOST:PORT")) {
			fprintf(stderr, "'%s': %s\n", b[i].in, err);
			fail();
		}
		assert_null(strchr(err, '\n'));
		assert_int_equal(ep.kind, 0);          /* nothing half-filled */
	}
	/* A path as long as sun_path (no room for its NUL). */
	memset(longp, 'p', sizeof(longp));
	memcpy(longp, "unix:/", 6);
	longp[5 + 108] = '\0';
	assert_int_equal(xport_endpoint_parse(longp, &ep, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at most 107"));
	memset(longh, 'h', sizeof(longh));
	memcpy(longh, "tcp:", 4);
	memcpy(longh + 4 + 256, ":80", 4);
	assert_int_equal(xport_endpoint_parse(longh, &ep, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the host is 256 bytes"));
	assert_int_equal(xport_endpoint_parse(NULL, &ep, err, sizeof(err)), -EINVAL);
}

/* ---- key files ---- */

static void test_psk_create(void **state)
{
	struct fix *f = *state;
	char err[512], path[160], link[160], text[80];
	uint8_t key[XPORT_PSK_MAX_HEX / 2];
	size_t keylen = 0;
	struct stat st;
	mode_t old;
	int fd;
	ssize_t n;

	/* Mode 0600 whatever the umask: 0 would give 0600 anyway, 0277 would
	 * take the owner's read bit. */
	snprintf(path, sizeof(path), "%s/new-key", f->dir);
	old = umask(0277);
	assert_int_equal(xport_psk_create(path, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, text, sizeof(text));
	close(fd);
	assert_int_equal(n, 65);
	assert_int_equal(text[64], '\n');
	assert_int_equal(strspn(text, "0123456789abcdef"), 64);
	assert_int_equal(xport_psk_load(path, key, &keylen, err, sizeof(err)), 0);
	assert_int_equal(keylen, 32);
	/* Two keys differ. */
	assert_int_equal(xport_psk_load(f->key, key, &keylen, err, sizeof(err)), 0);
	{
		uint8_t key2[XPORT_PSK_MAX_HEX / 2];
		size_t len2;

		assert_int_equal(xport_psk_load(f->key2, key2, &len2, err, sizeof(err)), 0);
		assert_int_equal(len2, 32);
		assert_memory_not_equal(key, key2, 32);
	}
	/* Never replaced: a file, a link (to a file that must not appear). */
	assert_int_equal(xport_psk_create(path, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "already exists"));
	snprintf(link, sizeof(link), "%s/key-link", f->dir);
	snprintf(text, sizeof(text), "%s/target", f->dir);
	assert_int_equal(symlink(text, link), 0);
	assert_int_equal(xport_psk_create(link, err, sizeof(err)), -EEXIST);
	assert_int_equal(access(text, F_OK), -1);
	snprintf(path, sizeof(path), "%s/no-dir/key", f->dir);
	assert_int_equal(xport_psk_create(path, err, sizeof(err)), -ENOENT);
}

static void write_key(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	write_all(fd, text, strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_psk_load_checks(void **state)
{
	static const struct { const char *text; int r; const char *why; } k[] = {
		{ "  00112233445566778899aabbccddeeff \n\n", 0, NULL },         /* 32 digits, trimmed */
		{ "00112233445566778899AABBCCDDEEFF", 0, NULL },               /* upper case */
		{ "00112233445566778899aabbccddee", -EINVAL, "30 hex digits" },  /* 120 bits */
		{ "00112233445566778899aabbccddeeff0", -EINVAL, "33 hex digits" },
		{ "00112233445566778899aabbccddeefg", -EINVAL, "character 32" },
		{ "0011223344556677 8899aabbccddeeff", -EINVAL, "character 17" },
		{ "", -EINVAL, "0 hex digits" },
	};
	struct fix *f = *state;
	char err[512], path[160], link[160];
	uint8_t key[XPORT_PSK_MAX_HEX / 2];
	size_t keylen;

	snprintf(path, sizeof(path), "%s/k", f->dir);
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		write_key(path, k[i].text, 0600);
		err[0] = '\0';
		assert_int_equal(xport_psk_load(path, key, &keylen, err, sizeof(err)), k[i].r);
		if (k[i].why && !strstr(err, k[i].why)) {
			fprintf(stderr, "'%s': %s\n", k[i].text, err);
			fail();
		}
		if (k[i].r == 0) {
			assert_int_equal(keylen, 16);
			assert_int_equal(key[0], 0x00);
			assert_int_equal(key[10], 0xaa);
			assert_int_equal(key[15], 0xff);
		}
	}
	/* Open to group or others: refused, naming the fix. */
	write_key(path, "00112233445566778899aabbccddeeff", 0644);
	assert_int_equal(xport_psk_load(path, NULL, NULL, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "chmod 600"));
	assert_non_null(strstr(err, "0644"));
	write_key(path, "00112233445566778899aabbccddeeff", 0640);
	assert_int_equal(xport_psk_load(path, NULL, NULL, err, sizeof(err)), -EACCES);
	/* A link, even to a good key; a directory; nothing there. */
	snprintf(link, sizeof(link), "%s/k-link", f->dir);
	assert_int_equal(symlink(f->key, link), 0);
	assert_int_equal(xport_psk_load(link, NULL, NULL, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(xport_psk_load(f->dir, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	snprintf(path, sizeof(path), "%s/absent", f->dir);
	assert_int_equal(xport_psk_load(path, NULL, NULL, err, sizeof(err)), -ENOENT);
}

/* ---- listeners ---- */

static void test_unix_listen_mode(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	struct stat st;
	mode_t old = umask(0);     /* a loose umask must not show */
	int lfd = unix_listen(f, NULL, &ep);

	umask(old);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	xport_unlisten(&ep, lfd);
	assert_int_equal(access(f->sock, F_OK), -1);
	close(lfd);
}

static void test_unix_stale_live_file(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char err[512];
	int s, lfd, fd;

	/* A stale socket: bound, then its process gone (closed, file left). */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	lfd = unix_listen(f, NULL, &ep);
	/* A live one: refused, and left alone. */
	assert_int_equal(xport_listen(&ep, NULL, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(access(f->sock, F_OK), 0);
	/* unlisten with another listener's fd does not remove it. */
	{
		struct xport_endpoint other = ep;
		int ofd;

		snprintf(other.path, sizeof(other.path), "%s/other.sock", f->dir);
		ofd = xport_listen(&other, NULL, err, sizeof(err));
		assert_true(ofd >= 0);
		xport_unlisten(&ep, ofd);
		assert_int_equal(access(f->sock, F_OK), 0);
		xport_unlisten(&other, ofd);
		close(ofd);
	}
	xport_unlisten(&ep, lfd);
	close(lfd);
	/* Not a socket: never replaced. */
	fd = open(f->sock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	write_all(fd, "data", 4);
	close(fd);
	assert_int_equal(xport_listen(&ep, NULL, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a socket"));
	{
		struct stat st;

		assert_int_equal(stat(f->sock, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_size, 4);
	}
}

/* ---- frames over Unix sockets ---- */

static void test_frames_unix(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	int lfd = unix_listen(f, NULL, &ep);

	echo_over(&ep, lfd, NULL, NULL, NULL);
	xport_unlisten(&ep, lfd);
	close(lfd);
}

static void test_wire_format(void **state)
{
	uint8_t got[64], want[64];
	struct iovec v[2] = { { .iov_base = "ab", .iov_len = 2 }, { .iov_base = "cde", .iov_len = 3 } };
	char err[256];
	int raw;
	struct xport_conn *c = pair_conn(&raw);
	size_t n = raw_frame(want, 0x01020304, "abcde", 5);

	(void)state;
	assert_int_equal(xport_sendv(c, 0x01020304, v, 2, err, sizeof(err)), 0);
	assert_int_equal(read(raw, got, sizeof(got)), (ssize_t)n);
	assert_memory_equal(got, want, n);
	/* Little-endian, magic first. */
	assert_memory_equal(got, "NVMF\x04\x03\x02\x01\x05\0\0\0\0\0\0\0", 16);
	/* Over the cap: refused, nothing sent. */
	{
		struct iovec huge[2] = { { .iov_base = got, .iov_len = XPORT_FRAME_MAX },
					 { .iov_base = got, .iov_len = 1 } };

		assert_int_equal(xport_sendv(c, 1, huge, 2, err, sizeof(err)), -EFBIG);
		assert_int_equal(xport_send(c, 1, "ok", 2, err, sizeof(err)), 0);  /* still usable */
		assert_int_equal(read(raw, got, sizeof(got)), XPORT_FRAME_HEADER + 2);
	}
	assert_int_equal(xport_bytes_sent(c), n + XPORT_FRAME_HEADER + 2);
	xport_close(c);
	close(raw);
}

static void test_recv_timeout(void **state)
{
	uint8_t fr[64];
	const void *data;
	uint32_t type;
	size_t len, n = raw_frame(fr, 9, "0123456789", 10);
	char err[256];
	int64_t t0;
	int raw;
	struct xport_conn *c = pair_conn(&raw);

	(void)state;
	t0 = now_ms();
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, 150, err, sizeof(err)), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 140);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(err, "150 ms"));
	/* Half a header, then a timeout, then the rest: the frame comes whole. */
	write_all(raw, fr, 10);
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, 50, err, sizeof(err)), -ETIMEDOUT);
	write_all(raw, fr + 10, 20);           /* the header and 6 payload bytes */
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, 50, err, sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "30 bytes of it"));
	write_all(raw, fr + 30, n - 30);
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, 0, err, sizeof(err)), 0);
	assert_int_equal(type, 9);
	assert_int_equal(len, 10);
	assert_memory_equal(data, "0123456789", 10);
	assert_int_equal(xport_bytes_received(c), n);
	close(raw);
	xport_close(c);
}

static void test_peer_closed_boundary(void **state)
{
	uint8_t fr[64];
	const void *data;
	uint32_t type;
	size_t len, n = raw_frame(fr, 1, "last", 4);
	char err[256];
	int raw;
	struct xport_conn *c = pair_conn(&raw);

	(void)state;
	write_all(raw, fr, n);
	close(raw);
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), 0);
	assert_int_equal(len, 4);
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), -ECONNRESET);
	assert_string_equal(err, "the peer closed the connection");
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), -ECONNRESET);
	assert_null(data);
	xport_close(c);
}

static void test_peer_closed_mid_frame(void **state)
{
	uint8_t fr[128];
	const void *data;
	uint32_t type;
	size_t len, n = raw_frame(fr, 1, "a payload of some bytes", 23);
	size_t cuts[] = { 1, 12, 23, 24, 25, n - 1 };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		int raw;
		struct xport_conn *c = pair_conn(&raw);

		write_all(raw, fr, cuts[i]);
		close(raw);
		assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), -EPIPE);
		assert_non_null(strstr(err, "the stream was cut"));
		assert_null(data);
		assert_int_equal(len, 0);
		xport_close(c);
	}
}

static void test_garbage(void **state)
{
	static const char http[] = "GET /v1/vm HTTP/1.1\r\nHost: x\r\n\r\n";
	uint8_t fr[64];
	const void *data;
	uint32_t type;
	size_t len;
	char err[256];
	int raw;
	struct xport_conn *c = pair_conn(&raw);

	(void)state;
	write_all(raw, http, sizeof(http) - 1);
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "not a nestvm migration stream"));
	/* And it stays refused. */
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), -EPROTO);
	xport_close(c);
	close(raw);

	/* The right magic, a damaged header (its length changed). */
	c = pair_conn(&raw);
	raw_frame(fr, 1, "abc", 3);
	fr[8] ^= 1;
	write_all(raw, fr, XPORT_FRAME_HEADER + 3);
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "CRC"));
	xport_close(c);
	close(raw);
}

static void test_corrupt_payload(void **state)
{
	uint8_t fr[128];
	const void *data;
	uint32_t type;
	size_t len, n = raw_frame(fr, 1, "page contents", 13);
	char err[256];
	int raw;
	struct xport_conn *c = pair_conn(&raw);

	(void)state;
	fr[XPORT_FRAME_HEADER + 5] ^= 0x40;
	write_all(raw, fr, n);
	n = raw_frame(fr, 2, "next", 4);
	write_all(raw, fr, n);
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "CRC"));
	assert_null(data);
	/* The frame was taken whole: the next one reads. */
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), 0);
	assert_int_equal(type, 2);
	assert_memory_equal(data, "next", 4);
	xport_close(c);
	close(raw);
}

static void test_oversized(void **state)
{
	static const uint64_t lens[] = { 4097, XPORT_FRAME_MAX + 1ull, UINT64_MAX };
	static const size_t maxes[] = { 4096, XPORT_FRAME_MAX, (size_t)-1 };
	uint8_t h[XPORT_FRAME_HEADER];
	const void *data;
	uint32_t type;
	size_t len;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		int raw;
		struct xport_conn *c = pair_conn(&raw);

		raw_header(h, 1, lens[i], 0);
		write_all(raw, h, sizeof(h));
		/* max over XPORT_FRAME_MAX is taken as XPORT_FRAME_MAX. */
		assert_int_equal(xport_recv(c, &type, &data, &len, maxes[i], T_MS, err, sizeof(err)),
				 -EFBIG);
		assert_non_null(strstr(err, "over the limit"));
		assert_int_equal(xport_recv_capacity(c), 0);    /* nothing allocated for it */
		assert_int_equal(xport_recv(c, &type, &data, &len, maxes[i], T_MS, err, sizeof(err)),
				 -EFBIG);
		xport_close(c);
		close(raw);
	}
	/* Exactly max is fine, and the buffer is the frame's size. */
	{
		int raw;
		struct xport_conn *c = pair_conn(&raw);
		uint8_t *fr = malloc(XPORT_FRAME_HEADER + 4096);

		assert_non_null(fr);
		memset(fr + XPORT_FRAME_HEADER, 'x', 4096);
		raw_frame(fr, 1, fr + XPORT_FRAME_HEADER, 4096);
		write_all(raw, fr, XPORT_FRAME_HEADER + 4096);
		assert_int_equal(xport_recv(c, &type, &data, &len, 4096, T_MS, err, sizeof(err)), 0);
		assert_int_equal(len, 4096);
		assert_int_equal(xport_recv_capacity(c), 4096);
		free(fr);
		xport_close(c);
		close(raw);
	}
}

static void test_send_timeout(void **state)
{
	uint8_t *buf = calloc(1, 1u << 20);
	char err[256];
	int64_t t0;
	int raw, r = 0, i;
	struct xport_conn *c = pair_conn(&raw);

	(void)state;
	assert_non_null(buf);
	xport_set_send_timeout(c, 200);
	t0 = now_ms();
	for (i = 0; i < 64 && r == 0; i++)        /* the peer reads nothing */
		r = xport_send(c, 1, buf, 1u << 20, err, sizeof(err));
	assert_int_equal(r, -ETIMEDOUT);
	assert_non_null(strstr(err, "read nothing for 200 ms"));
	assert_true(now_ms() - t0 < 5000);
	/* Part of a frame went out: the stream is done. */
	assert_int_equal(xport_send(c, 1, "x", 1, err, sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "unusable"));
	xport_close(c);
	close(raw);
	free(buf);
}

static void test_send_peer_gone(void **state)
{
	char err[256];
	int raw;
	struct xport_conn *c = pair_conn(&raw);

	(void)state;
	close(raw);
	/* With SIGPIPE's default action, a raised one would end the test here. */
	assert_int_equal(xport_send(c, 1, "x", 1, err, sizeof(err)), -EPIPE);
	assert_non_null(strstr(err, "peer closed"));
	xport_close(c);
}

/* ---- TCP and TLS ---- */

static void test_tcp_tls_right_key(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	int lfd = tcp_listen(f->key, &ep);

	echo_over(&ep, lfd, f->key, f->key, "TLS1.3");
	close(lfd);
}

static void test_tls12(void **state)
{
	static const char *const prio[] = {
		"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-PSK",
		"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+DHE-PSK",
		"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+PSK",
	};
	struct fix *f = *state;
	struct xport_endpoint ep;

	for (size_t i = 0; i < sizeof(prio) / sizeof(prio[0]); i++) {
		int lfd = tcp_listen(f->key, &ep);

		xport_tls_set_priority(prio[i]);
		echo_over(&ep, lfd, f->key, f->key, "TLS1.2");
		xport_tls_set_priority(NULL);
		close(lfd);
	}
}

static void test_unix_tls(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	int lfd = unix_listen(f, f->key, &ep);

	echo_over(&ep, lfd, f->key, f->key, "TLS1.3");
	xport_unlisten(&ep, lfd);
	close(lfd);
}

/* A wrong key: both ends fail with -EACCES and say the handshake failed,
 * under TLS 1.3 (the PSK binder) and 1.2 (the Finished messages). */
static void test_tls_wrong_key(void **state)
{
	static const char *const prio[] = { NULL, "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-PSK" };
	struct fix *f = *state;
	struct xport_endpoint ep;
	struct xport_security sec = { .psk_file = f->key2 };
	char err[512];

	for (size_t i = 0; i < sizeof(prio) / sizeof(prio[0]); i++) {
		struct xport_conn *c = NULL;
		int lfd = tcp_listen(f->key, &ep);
		struct srv s;

		xport_tls_set_priority(prio[i]);
		srv_start(&s, lfd, f->key, SRV_ECHO);
		assert_int_equal(xport_connect(&ep, &sec, T_MS, &c, err, sizeof(err)), -EACCES);
		assert_null(c);
		assert_non_null(strstr(err, "TLS handshake failed: "));
		assert_non_null(strstr(err, "--psk-file"));
		srv_join(&s);
		xport_tls_set_priority(NULL);
		assert_int_equal(s.accept_r, -EACCES);
		assert_non_null(strstr(s.err, "TLS handshake failed: "));
		close(lfd);
	}
}

static void test_tls_server_plain_client(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	struct xport_conn *c;
	char err[512];
	int lfd = unix_listen(f, f->key, &ep);
	struct srv s;

	srv_start(&s, lfd, f->key, SRV_ECHO);
	c = client(&ep, NULL);
	assert_int_equal(xport_send(c, 1, "plain text", 10, err, sizeof(err)), 0);
	srv_join(&s);
	assert_int_equal(s.accept_r, -EACCES);
	assert_non_null(strstr(s.err, "TLS handshake failed: "));
	xport_close(c);
	xport_unlisten(&ep, lfd);
	close(lfd);
}

static void test_tls_close_at_boundary(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	const void *data;
	uint32_t type;
	size_t len;
	char err[512];
	int lfd = tcp_listen(f->key, &ep);
	struct srv s;
	struct xport_conn *c;

	srv_start(&s, lfd, f->key, SRV_SEND_CLOSE);
	c = client(&ep, f->key);
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), 0);
	assert_int_equal(type, 7);
	assert_memory_equal(data, "bye", 3);
	assert_int_equal(xport_recv(c, &type, &data, &len, 1024, T_MS, err, sizeof(err)), -ECONNRESET);
	assert_string_equal(err, "the peer closed the connection");
	srv_join(&s);
	/* Sends to the closed peer: GnuTLS's writes raise no SIGPIPE either
	 * (the first may still go into the socket, before the reset). */
	{
		int r = 0;

		for (int i = 0; i < 100 && r == 0; i++) {
			r = xport_send(c, 1, "late", 4, err, sizeof(err));
			if (r == 0)
				poll(NULL, 0, 10);
		}
		assert_int_equal(r, -EPIPE);
	}
	xport_close(c);
	assert_int_equal(s.accept_r, 0);
	assert_int_equal(s.end_r, 0);
	close(lfd);
}

static void test_tcp_needs_key(void **state)
{
	struct xport_endpoint ep;
	struct xport_security none = { 0 }, empty = { .psk_file = "" };
	struct xport_conn *c = NULL;
	char err[512];

	(void)state;
	assert_int_equal(xport_endpoint_parse("tcp:127.0.0.1:4444", &ep, err, sizeof(err)), 0);
	assert_int_equal(xport_listen(&ep, &none, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--psk-file"));
	assert_int_equal(xport_listen(&ep, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(xport_listen(&ep, &empty, err, sizeof(err)), -EINVAL);
	assert_int_equal(xport_connect(&ep, &none, 1000, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--psk-file"));
	assert_null(c);
}

static void test_tcp_non_loopback(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	struct xport_security sec = { .psk_file = f->key };
	char err[512];
	int lfd;

	assert_int_equal(xport_endpoint_parse("tcp:0.0.0.0:4444", &ep, err, sizeof(err)), 0);
	ep.port = 0;
	assert_int_equal(xport_listen(&ep, &sec, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "--allow-remote"));
	assert_int_equal(xport_endpoint_parse("tcp:[::]:4444", &ep, err, sizeof(err)), 0);
	ep.port = 0;
	assert_int_equal(xport_listen(&ep, &sec, err, sizeof(err)), -EPERM);
	/* Allowed when asked for. */
	sec.allow_remote = true;
	assert_int_equal(xport_endpoint_parse("tcp:0.0.0.0:4444", &ep, err, sizeof(err)), 0);
	ep.port = 0;
	lfd = xport_listen(&ep, &sec, err, sizeof(err));
	assert_true(lfd >= 0);
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	close(lfd);
	/* Loopback by name is loopback. */
	sec.allow_remote = false;
	assert_int_equal(xport_endpoint_parse("tcp:localhost:4444", &ep, err, sizeof(err)), 0);
	ep.port = 0;
	lfd = xport_listen(&ep, &sec, err, sizeof(err));
	assert_true(lfd >= 0);
	close(lfd);
}

static void test_open_key_refused(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	struct xport_security sec = { .psk_file = f->key };
	struct xport_conn *c = NULL;
	char err[512];
	int lfd = tcp_listen(f->key, &ep);

	assert_int_equal(chmod(f->key, 0644), 0);
	assert_int_equal(xport_connect(&ep, &sec, T_MS, &c, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(c);
	assert_int_equal(xport_accept(lfd, &sec, 0, &c, err, sizeof(err)), -ETIMEDOUT);  /* nobody came */
	close(lfd);
	ep.port = 0;
	assert_int_equal(xport_listen(&ep, &sec, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "chmod 600"));
}

static void test_connect_errors(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	struct xport_security sec = { .psk_file = f->key };
	struct xport_conn *c = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char err[512];
	int s, lfd, port;
	int64_t t0;

	memset(&ep, 0, sizeof(ep));
	ep.kind = XPORT_UNIX;
	snprintf(ep.path, sizeof(ep.path), "%s", f->sock);
	assert_int_equal(xport_connect(&ep, NULL, T_MS, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no socket at unix:"));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	assert_int_equal(xport_connect(&ep, NULL, T_MS, &c, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "nothing listens on unix:"));
	/* A TCP port nobody listens on (one that was just free). */
	lfd = tcp_listen(f->key, &ep);
	port = ep.port;
	close(lfd);
	ep.port = (uint16_t)port;
	assert_int_equal(xport_connect(&ep, &sec, T_MS, &c, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "nothing listens on tcp:127.0.0.1:"));
	assert_null(c);
	/* A listener that never accepts: the handshake runs out of time. */
	lfd = tcp_listen(f->key, &ep);
	t0 = now_ms();
	assert_int_equal(xport_connect(&ep, &sec, 200, &c, err, sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "TLS handshake timed out"));
	assert_true(now_ms() - t0 < 3000);
	close(lfd);
}

static void test_accept_timeout(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	struct xport_conn *c = NULL;
	char err[512];
	int lfd = unix_listen(f, NULL, &ep);
	int64_t t0 = now_ms();

	assert_int_equal(xport_accept(lfd, NULL, 100, &c, err, sizeof(err)), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 90);
	assert_non_null(strstr(err, "nobody connected within 100 ms"));
	assert_null(c);
	xport_unlisten(&ep, lfd);
	close(lfd);
}

/* ---- closing a TCP connection ---- */

/* A connected plain TCP pair on loopback: *raw is the peer's fd. */
static struct xport_conn *tcp_pair(int *raw)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct xport_conn *c;
	char err[256];
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), a, b;

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
	b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(b, (struct sockaddr *)&sa, sizeof(sa)), 0);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	close(l);
	assert_int_equal(xport_conn_from_fd(a, &c, err, sizeof(err)), 0);
	*raw = b;
	return c;
}

struct closer {
	struct xport_conn *c;
	const void *last;        /* a frame to send first, or NULL */
	size_t len;
	int send_r;
	int64_t ms;              /* how long the close took */
};

static void *closer_main(void *arg)
{
	struct closer *k = arg;
	char err[256];
	int64_t t0;

	if (k->last)
		k->send_r = xport_send(k->c, 1, k->last, k->len, err, sizeof(err));
	t0 = now_ms();
	xport_close(k->c);
	k->ms = now_ms() - t0;
	return NULL;
}

/* We leave bytes of the peer's unread, send a last frame and close: the
 * kernel would answer a plain close with a reset and drop what it had
 * still to send. The peer must get the whole frame, then our end. */
static void test_tcp_close_delivers(void **state)
{
	const size_t len = 4u << 20;
	uint8_t *buf = malloc(len), *got = malloc(XPORT_FRAME_HEADER + len);
	struct closer k = { .last = buf, .len = len };
	size_t have = 0;
	pthread_t th;
	ssize_t n;
	int raw;

	(void)state;
	assert_non_null(buf);
	assert_non_null(got);
	fill(buf, len, 3);
	k.c = tcp_pair(&raw);
	write_all(raw, "unread by the other end", 23);
	poll(NULL, 0, 50);
	assert_int_equal(pthread_create(&th, NULL, closer_main, &k), 0);
	poll(NULL, 0, 200);              /* the send fills the buffers and waits */
	while ((n = read(raw, got + have, XPORT_FRAME_HEADER + len - have)) > 0)
		have += (size_t)n;
	assert_int_equal(have, XPORT_FRAME_HEADER + len);
	assert_int_equal(read(raw, got, 1), 0);         /* then our end: no reset */
	assert_memory_equal(got + XPORT_FRAME_HEADER, buf, len);
	close(raw);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(k.send_r, 0);
	free(buf);
	free(got);
}

struct flooder {
	int fd;
};

static void *flooder_main(void *arg)
{
	struct flooder *f = arg;
	char junk[4096] = { 0 };

	while (send(f->fd, junk, sizeof(junk), MSG_NOSIGNAL) > 0)
		;
	return NULL;
}

/* A peer that never stops sending does not hold close beyond its bound. */
static void test_tcp_close_bounded(void **state)
{
	struct flooder f = { 0 };
	struct closer k = { 0 };
	pthread_t th;

	(void)state;
	k.c = tcp_pair(&f.fd);
	assert_int_equal(pthread_create(&th, NULL, flooder_main, &f), 0);
	poll(NULL, 0, 50);
	closer_main(&k);
	assert_true(k.ms >= XPORT_LINGER_MS - 100);
	assert_true(k.ms < XPORT_LINGER_MS + 2000);
	shutdown(f.fd, SHUT_RDWR);       /* ends the flooder's send */
	assert_int_equal(pthread_join(th, NULL), 0);
	close(f.fd);
}

/* ---- one thread sending, another receiving, on one connection ---- */

#define DUPLEX_FRAMES 200
#define DUPLEX_SIZE   (64u << 10)

struct sender {
	struct xport_conn *c;
	int r;
	char err[512];
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	uint8_t *buf = malloc(DUPLEX_SIZE);

	s->r = buf ? 0 : -ENOMEM;
	for (int i = 0; i < DUPLEX_FRAMES && s->r == 0; i++) {
		fill(buf, DUPLEX_SIZE, (unsigned int)i);
		s->r = xport_send(s->c, (uint32_t)i, buf, DUPLEX_SIZE, s->err, sizeof(s->err));
	}
	free(buf);
	return NULL;
}

static void duplex_over(const struct xport_endpoint *ep, int lfd, const char *psk)
{
	uint8_t *want = malloc(DUPLEX_SIZE);
	struct sender snd = { 0 };
	pthread_t th;
	struct srv s;
	char err[512];

	assert_non_null(want);
	srv_start(&s, lfd, psk, SRV_ECHO);
	snd.c = client(ep, psk);
	assert_int_equal(pthread_create(&th, NULL, sender_main, &snd), 0);
	for (int i = 0; i < DUPLEX_FRAMES; i++) {
		const void *data;
		uint32_t type;
		size_t len;

		assert_int_equal(xport_recv(snd.c, &type, &data, &len, DUPLEX_SIZE, T_MS, err,
					    sizeof(err)), 0);
		assert_int_equal(type, i);
		assert_int_equal(len, DUPLEX_SIZE);
		fill(want, DUPLEX_SIZE, (unsigned int)i);
		assert_memory_equal(data, want, DUPLEX_SIZE);
		(void)xport_bytes_sent(snd.c);    /* read while the sender counts */
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(snd.r, 0);
	assert_int_equal(xport_bytes_sent(snd.c), (uint64_t)DUPLEX_FRAMES * (XPORT_FRAME_HEADER + DUPLEX_SIZE));
	xport_close(snd.c);
	srv_join(&s);
	assert_int_equal(s.frames, DUPLEX_FRAMES);
	free(want);
}

static void test_duplex(void **state)
{
	struct fix *f = *state;
	struct xport_endpoint ep;
	int lfd = unix_listen(f, NULL, &ep);

	duplex_over(&ep, lfd, NULL);
	xport_unlisten(&ep, lfd);
	close(lfd);
	lfd = tcp_listen(f->key, &ep);
	duplex_over(&ep, lfd, f->key);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_good),
		cmocka_unit_test(test_endpoint_bad),
		cmocka_unit_test_setup_teardown(test_psk_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_psk_load_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unix_listen_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unix_stale_live_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_unix, setup, teardown),
		cmocka_unit_test(test_wire_format),
		cmocka_unit_test(test_recv_timeout),
		cmocka_unit_test(test_peer_closed_boundary),
		cmocka_unit_test(test_peer_closed_mid_frame),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_corrupt_payload),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_send_timeout),
		cmocka_unit_test(test_send_peer_gone),
		cmocka_unit_test_setup_teardown(test_tcp_tls_right_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls12, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unix_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_server_plain_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_close_at_boundary, setup, teardown),
		cmocka_unit_test(test_tcp_needs_key),
		cmocka_unit_test_setup_teardown(test_tcp_non_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_timeout, setup, teardown),
		cmocka_unit_test(test_tcp_close_delivers),
		cmocka_unit_test(test_tcp_close_bounded),
		cmocka_unit_test_setup_teardown(test_duplex, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
