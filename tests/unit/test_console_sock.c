/* Unit tests of a background VM's console socket (src/control/console_sock.c,
 * console_attach.c): real Unix sockets in a temporary directory, a real
 * UART model, a real log file. */
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
#include <time.h>
#include <unistd.h>

#include "hw/serial.h"
#include "control/console_sock.h"

#define THR 0
#define RBR 0
#define LSR 5

struct ctx {
	char dir[64];
	char path[100];
	char log_path[128];
	int log_fd;
	struct serial8250 s;
	struct console_sock cs;
	bool started;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[256];

	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/nestvm-con-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->path, sizeof(c->path), "%s/%s", c->dir, CONSOLE_SOCK_NAME);
	snprintf(c->log_path, sizeof(c->log_path), "%s/console.log", c->dir);
	c->log_fd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (c->log_fd < 0)
		return -1;
	serial_init(&c->s, SERIAL_COM1_IRQ, NULL, NULL, console_sock_write, &c->cs);
	if (console_sock_start(&c->cs, c->path, c->log_fd, &c->s, err, sizeof(err)) < 0) {
		fprintf(stderr, "console_sock_start: %s\n", err);
		return -1;
	}
	c->started = true;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->started)
		console_sock_stop(&c->cs);
	serial_destroy(&c->s);
	close(c->log_fd);
	unlink(c->log_path);
	unlink(c->path);
	rmdir(c->dir);
	free(c);
	return 0;
}

/* ---- helpers ---- */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int client_connect(struct ctx *c, size_t want_clients)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	long end = now_ms() + 5000;

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* connect() returns once queued; wait until the thread took it. */
	while (console_sock_clients(&c->cs) < want_clients && now_ms() < end)
		sleep_ms(1);
	assert_int_equal(console_sock_clients(&c->cs), want_clients);
	return fd;
}

/* Read exactly n bytes from fd within 5 s. */
static void read_exact(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	long end = now_ms() + 5000;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		assert_true(poll(&p, 1, (int)(end - now_ms())) > 0);
		r = read(fd, buf + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

/* Nothing more to read from fd for a short while. */
static void assert_nothing_more(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 50), 0);
}

static void guest_print(struct ctx *c, const char *s)
{
	for (; *s; s++) {
		uint8_t v = (uint8_t)*s;

		serial_io(&c->s, THR, &v, 1, true);
	}
}

static size_t rx_count(struct ctx *c)
{
	size_t n;

	pthread_mutex_lock(&c->s.lock);
	n = c->s.st.rx_count;
	pthread_mutex_unlock(&c->s.lock);
	return n;
}

static void wait_rx(struct ctx *c, size_t n)
{
	long end = now_ms() + 5000;

	while (rx_count(c) < n && now_ms() < end)
		sleep_ms(1);
	assert_int_equal(rx_count(c), n);
}

/* What the guest reads from RBR, n bytes. */
static void guest_read(struct ctx *c, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		serial_io(&c->s, RBR, &buf[i], 1, false);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

/* ---- output ---- */

static void test_output_to_log_and_clients(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[64], logbuf[64];
	int a = client_connect(c, 1), b = client_connect(c, 2);

	guest_print(c, "login: ");
	read_exact(a, buf, 7);
	assert_memory_equal(buf, "login: ", 7);
	read_exact(b, buf, 7);
	assert_memory_equal(buf, "login: ", 7);
	assert_int_equal(read_file(c->log_path, logbuf, sizeof(logbuf)), 7);
	assert_memory_equal(logbuf, "login: ", 7);
	assert_nothing_more(a);

	/* One leaves; the other still gets output. */
	close(a);
	guest_print(c, "ok");
	read_exact(b, buf, 2);
	assert_memory_equal(buf, "ok", 2);
	assert_int_equal(read_file(c->log_path, logbuf, sizeof(logbuf)), 9);
	close(b);
}

static void test_late_client_gets_tail(void **state)
{
	struct ctx *c = *state;
	size_t total = CONSOLE_SOCK_RING + 5000;
	uint8_t *out = malloc(total), *got = malloc(CONSOLE_SOCK_RING);
	uint8_t small[8];
	int fd;

	assert_non_null(out);
	assert_non_null(got);
	for (size_t i = 0; i < total; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	/* In pieces of odd sizes, so the ring wraps mid-write. */
	for (size_t off = 0, n; off < total; off += n) {
		n = total - off < 777 ? total - off : 777;
		console_sock_write(&c->cs, out + off, n);
	}
	fd = client_connect(c, 1);
	read_exact(fd, got, CONSOLE_SOCK_RING);
	assert_memory_equal(got, out + total - CONSOLE_SOCK_RING, CONSOLE_SOCK_RING);
	assert_nothing_more(fd);
	/* Then live output follows, nothing lost or repeated in between. */
	guest_print(c, "$ ");
	read_exact(fd, small, 2);
	assert_memory_equal(small, "$ ", 2);
	close(fd);
	free(out);
	free(got);
}

static void test_short_tail_replayed(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[32];
	int fd;

	guest_print(c, "debian login: ");
	fd = client_connect(c, 1);
	read_exact(fd, buf, 14);
	assert_memory_equal(buf, "debian login: ", 14);
	assert_nothing_more(fd);
	close(fd);
}

/* A client that never reads must not hold up the vCPU: 10 MiB go through
 * in bounded time, the log gets all of it, the client loses what its socket
 * could not take (counted), and a reading client is unaffected. */
static void test_stalled_client_does_not_block(void **state)
{
	struct ctx *c = *state;
	size_t chunk = 1024, total = 10u << 20;
	uint8_t buf[1024], tail[16];
	struct stat st;
	long t0;
	int stalled = client_connect(c, 1);

	for (size_t i = 0; i < chunk; i++)
		buf[i] = (uint8_t)('a' + i % 26);
	t0 = now_ms();
	for (size_t off = 0; off < total; off += chunk)
		console_sock_write(&c->cs, buf, chunk);
	assert_true(now_ms() - t0 < 20000);
	assert_int_equal(fstat(c->log_fd, &st), 0);
	assert_int_equal((size_t)st.st_size, total);
	assert_true(c->cs.dropped > 0);
	assert_true(c->cs.dropped < total);
	assert_true(c->cs.clients[0].dropped == c->cs.dropped);
	/* The stalled client is still attached, and gets new output once it reads. */
	assert_int_equal(console_sock_clients(&c->cs), 1);
	{
		int late = client_connect(c, 2);

		guest_print(c, "END");
		_Static_assert(CONSOLE_SOCK_RING % 1024 == 0, "ring holds whole chunks");
		/* The late one gets the replayed tail (the end of the 10 MiB:
		 * whole copies of buf, the ring being a multiple of it), then END. */
		uint8_t got[sizeof(buf)];

		for (size_t left = CONSOLE_SOCK_RING; left > 0; left -= sizeof(got)) {
			read_exact(late, got, sizeof(got));
			assert_memory_equal(got, buf, sizeof(got));
		}
		read_exact(late, tail, 3);
		assert_memory_equal(tail, "END", 3);
		close(late);
	}
	close(stalled);
}

/* ---- input ---- */

static void test_client_input_reaches_uart(void **state)
{
	struct ctx *c = *state;
	uint8_t got[8];
	int a = client_connect(c, 1), b = client_connect(c, 2);

	assert_int_equal(write(a, "ls\r", 3), 3);
	wait_rx(c, 3);
	assert_int_equal(write(b, "pwd", 3), 3);
	wait_rx(c, 6);
	guest_read(c, got, 6);
	assert_memory_equal(got, "ls\rpwd", 6);
	assert_int_equal(rx_count(c), 0);
	close(a);
	close(b);
}

/* More input than the UART's queue holds: the rest waits, none is lost. */
static void test_input_flow_control(void **state)
{
	struct ctx *c = *state;
	size_t total = SERIAL_RX_BUF + 1000;
	uint8_t *in = malloc(total), *got = malloc(total);
	int fd = client_connect(c, 1);

	assert_non_null(in);
	assert_non_null(got);
	for (size_t i = 0; i < total; i++)
		in[i] = (uint8_t)(i % 253);
	assert_int_equal(write(fd, in, total), (ssize_t)total);
	wait_rx(c, SERIAL_RX_BUF);
	sleep_ms(30);
	assert_int_equal(rx_count(c), SERIAL_RX_BUF);
	guest_read(c, got, SERIAL_RX_BUF);
	wait_rx(c, total - SERIAL_RX_BUF);
	guest_read(c, got + SERIAL_RX_BUF, total - SERIAL_RX_BUF);
	assert_memory_equal(got, in, total);
	close(fd);
	free(in);
	free(got);
}

/* ---- limits, the socket ---- */

static void test_too_many_clients(void **state)
{
	struct ctx *c = *state;
	int fds[CONSOLE_SOCK_CLIENTS], extra;
	char buf[128] = "";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	for (size_t i = 0; i < CONSOLE_SOCK_CLIENTS; i++)
		fds[i] = client_connect(c, i + 1);
	extra = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->path);
	assert_int_equal(connect(extra, (struct sockaddr *)&sa, sizeof(sa)), 0);
	read_exact(extra, (uint8_t *)buf, 10);
	assert_memory_equal(buf, "nestvm: to", 10);
	close(extra);
	assert_int_equal(console_sock_clients(&c->cs), CONSOLE_SOCK_CLIENTS);
	for (size_t i = 0; i < CONSOLE_SOCK_CLIENTS; i++)
		close(fds[i]);
}

static void test_socket_mode_and_unlink(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	struct console_sock second;
	char err[256] = "";

	assert_int_equal(lstat(c->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	/* The same creation rules as the API socket. */
	assert_int_equal(console_sock_start(&second, c->path, -1, &c->s, err, sizeof(err)),
			 -EADDRINUSE);
	console_sock_stop(&c->cs);
	c->started = false;
	assert_int_equal(lstat(c->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/* ---- attach (the client side) ---- */

struct attach_run {
	char path[100];
	int in_fd, out_fd;
	int result;
	char err[256];
	pthread_t thread;
};

static void *attach_thread(void *arg)
{
	struct attach_run *a = arg;

	a->result = console_sock_attach(a->path, a->in_fd, a->out_fd, a->err, sizeof(a->err));
	return NULL;
}

/* Wait for the attach thread to return, within 5 s. */
static void attach_join(struct attach_run *a)
{
	long end = now_ms() + 5000;

	while (now_ms() < end && pthread_tryjoin_np(a->thread, NULL) == EBUSY)
		sleep_ms(2);
	assert_true(now_ms() < end);
}

static void test_attach_detach_key(void **state)
{
	struct ctx *c = *state;
	struct attach_run a = { .result = 99 };
	int in[2], out[2];
	uint8_t buf[32], got[16];

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	snprintf(a.path, sizeof(a.path), "%s", c->path);
	a.in_fd = in[0];
	a.out_fd = out[1];
	guest_print(c, "login: ");
	assert_int_equal(pthread_create(&a.thread, NULL, attach_thread, &a), 0);
	/* The replayed prompt comes out on out_fd. */
	read_exact(out[0], buf, 7);
	assert_memory_equal(buf, "login: ", 7);
	/* Live output too. */
	assert_int_equal(console_sock_clients(&c->cs), 1);
	guest_print(c, "x");
	read_exact(out[0], buf, 1);
	assert_int_equal(buf[0], 'x');
	/* Typed input reaches the UART; Ctrl-] detaches, what follows is not sent. */
	assert_int_equal(write(in[1], "root\r", 5), 5);
	wait_rx(c, 5);
	assert_int_equal(write(in[1], "ab\x1d" "cd", 5), 5);
	attach_join(&a);
	assert_int_equal(a.result, 0);
	wait_rx(c, 7);
	sleep_ms(20);
	assert_int_equal(rx_count(c), 7);
	guest_read(c, got, 7);
	assert_memory_equal(got, "root\rab", 7);
	/* The VM side sees the client go. */
	for (long end = now_ms() + 5000; console_sock_clients(&c->cs) && now_ms() < end;)
		sleep_ms(1);
	assert_int_equal(console_sock_clients(&c->cs), 0);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
}

static void test_attach_ends_when_vm_closes(void **state)
{
	struct ctx *c = *state;
	struct attach_run a = { .result = 99 };
	int in[2], out[2];
	uint8_t buf[8];

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	snprintf(a.path, sizeof(a.path), "%s", c->path);
	a.in_fd = in[0];
	a.out_fd = out[1];
	assert_int_equal(pthread_create(&a.thread, NULL, attach_thread, &a), 0);
	for (long end = now_ms() + 5000; !console_sock_clients(&c->cs) && now_ms() < end;)
		sleep_ms(1);
	guest_print(c, "bye");
	read_exact(out[0], buf, 3);
	console_sock_stop(&c->cs);
	c->started = false;
	attach_join(&a);
	assert_int_equal(a.result, 0);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
}

static void test_attach_stdin_eof(void **state)
{
	struct ctx *c = *state;
	struct attach_run a = { .result = 99 };
	int in[2], out[2];
	uint8_t got[4];

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	snprintf(a.path, sizeof(a.path), "%s", c->path);
	a.in_fd = in[0];
	a.out_fd = out[1];
	assert_int_equal(write(in[1], "hi\r", 3), 3);
	close(in[1]);
	assert_int_equal(pthread_create(&a.thread, NULL, attach_thread, &a), 0);
	attach_join(&a);
	assert_int_equal(a.result, 0);
	/* Everything read before the end was sent. */
	wait_rx(c, 3);
	guest_read(c, got, 3);
	assert_memory_equal(got, "hi\r", 3);
	close(in[0]);
	close(out[0]);
	close(out[1]);
}

static void test_attach_no_vm(void **state)
{
	struct ctx *c = *state;
	char err[256] = "", path[160];

	snprintf(path, sizeof(path), "%s/nothing.sock", c->dir);
	assert_int_equal(console_sock_attach(path, 0, 1, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no socket"));
	console_sock_stop(&c->cs);
	c->started = false;
	/* A stale socket file: nobody listens. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	assert_int_equal(console_sock_attach(c->path, 0, 1, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "nothing listens"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_output_to_log_and_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_client_gets_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_tail_replayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_client_does_not_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_input_reaches_uart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_flow_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_mode_and_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_detach_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_ends_when_vm_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_stdin_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_no_vm, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
