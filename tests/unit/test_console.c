/* Unit tests of the console's escape-key filter (src/machine/console.c):
 * Ctrl-A x quits, Ctrl-A p presses the power button, Ctrl-A Ctrl-A sends
 * one Ctrl-A, anything else passes; and its output queue (a reader that
 * stops reading blocks nothing). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "machine/console.h"

#define ESC "\x01"

struct filtered {
	enum console_action action;
	size_t n;
	uint8_t out[64];
};

/* Filter a string (without its NUL) through st. */
static struct filtered filter(struct console_escape *st, const char *in, size_t n)
{
	struct filtered f;

	memset(f.out, 0xee, sizeof(f.out));
	f.n = 12345;
	assert_true(n <= sizeof(f.out));
	f.action = console_escape_filter(st, (const uint8_t *)in, n, f.out, &f.n);
	return f;
}

#define FILTER(st, lit) filter((st), (lit), sizeof(lit) - 1)

static void assert_output(const struct filtered *f, const char *want, size_t want_n)
{
	assert_int_equal(f->n, want_n);
	assert_memory_equal(f->out, want, want_n);
}

static void test_plain_bytes_pass(void **state)
{
	struct console_escape st = { 0 };
	struct filtered f;
	uint8_t all[256], out[256];
	size_t n = 0;

	(void)state;
	f = FILTER(&st, "ls -l\r");
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_output(&f, "ls -l\r", 6);
	assert_false(st.pending);

	/* Every byte value but Ctrl-A goes through unchanged, 'x' included. */
	for (unsigned int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	assert_int_equal(console_escape_filter(&st, all + 2, 254, out, &n), CONSOLE_NONE);
	assert_int_equal(n, 254);
	assert_memory_equal(out, all + 2, 254);
	assert_int_equal(console_escape_filter(&st, all, 1, out, &n), CONSOLE_NONE);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 0);
}

static void test_empty_input(void **state)
{
	struct console_escape st = { 0 };
	struct filtered f;

	(void)state;
	f = filter(&st, "", 0);
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_int_equal(f.n, 0);
	/* An empty read does not cancel a pending escape. */
	st.pending = true;
	f = filter(&st, "", 0);
	assert_int_equal(f.n, 0);
	assert_true(st.pending);
}

static void test_ctrl_a_x_quits(void **state)
{
	struct console_escape st = { 0 };
	struct filtered f;

	(void)state;
	f = FILTER(&st, ESC "x");
	assert_int_equal(f.action, CONSOLE_QUIT);
	assert_int_equal(f.n, 0);
	assert_false(st.pending);

	/* Upper case too; what came before is still delivered, nothing after. */
	f = FILTER(&st, "abc" ESC "Xdef");
	assert_int_equal(f.action, CONSOLE_QUIT);
	assert_output(&f, "abc", 3);
	assert_int_equal(f.out[3], 0xee);   /* nothing written past it */
}

static void test_ctrl_a_ctrl_a_sends_one(void **state)
{
	struct console_escape st = { 0 };
	struct filtered f;

	(void)state;
	f = FILTER(&st, ESC ESC);
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_output(&f, ESC, 1);
	assert_false(st.pending);

	/* Three in a row: one sent, the third starts a new escape. */
	f = FILTER(&st, "a" ESC ESC ESC);
	assert_output(&f, "a" ESC, 2);
	assert_true(st.pending);
	f = FILTER(&st, "x");
	assert_int_equal(f.action, CONSOLE_QUIT);

	/* Ctrl-A Ctrl-A then x is a literal x, not a quit. */
	st.pending = false;
	f = FILTER(&st, ESC ESC "x");
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_output(&f, ESC "x", 2);
}

static void test_ctrl_a_other_byte_passes(void **state)
{
	struct console_escape st = { 0 };
	struct filtered f;

	(void)state;
	/* The escape is dropped, the byte after it goes through. */
	f = FILTER(&st, ESC "c");
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_output(&f, "c", 1);
	assert_false(st.pending);
	f = FILTER(&st, "1" ESC "\r2" ESC "\0" "3");
	assert_output(&f, "1\r2\0" "3", 5);
	/* Only the byte right after it is looked at. */
	f = FILTER(&st, ESC "yx");
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_output(&f, "yx", 2);
}

static void test_escape_split_across_reads(void **state)
{
	struct console_escape st = { 0 };
	struct filtered f;

	(void)state;
	f = FILTER(&st, "hello" ESC);
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_output(&f, "hello", 5);
	assert_true(st.pending);
	f = FILTER(&st, "x");
	assert_int_equal(f.action, CONSOLE_QUIT);
	assert_int_equal(f.n, 0);
	assert_false(st.pending);

	f = FILTER(&st, ESC);
	assert_int_equal(f.n, 0);
	assert_true(st.pending);
	f = FILTER(&st, ESC "ok");
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_output(&f, ESC "ok", 3);
	assert_false(st.pending);

	f = FILTER(&st, "a" ESC);
	f = FILTER(&st, "b" ESC);
	assert_output(&f, "b", 1);
	assert_true(st.pending);
	f = FILTER(&st, "X");
	assert_int_equal(f.action, CONSOLE_QUIT);
}

static void test_ctrl_a_p_power_button(void **state)
{
	struct console_escape st = { 0 };
	struct filtered f;

	(void)state;
	f = FILTER(&st, ESC "p");
	assert_int_equal(f.action, CONSOLE_POWER_BUTTON);
	assert_int_equal(f.n, 0);
	assert_false(st.pending);

	/* Upper case too; bytes around it all go on, in order, without it. */
	f = FILTER(&st, "ab" ESC "Pcd");
	assert_int_equal(f.action, CONSOLE_POWER_BUTTON);
	assert_output(&f, "abcd", 4);

	/* Several presses in one read are one press. */
	f = FILTER(&st, ESC "p" "1" ESC "p");
	assert_int_equal(f.action, CONSOLE_POWER_BUTTON);
	assert_output(&f, "1", 1);

	/* Split across reads. */
	f = FILTER(&st, "z" ESC);
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_output(&f, "z", 1);
	f = FILTER(&st, "p");
	assert_int_equal(f.action, CONSOLE_POWER_BUTTON);
	assert_int_equal(f.n, 0);

	/* A quit after a press in the same read wins (the VM ends anyway). */
	f = FILTER(&st, ESC "p" "q" ESC "x" "tail");
	assert_int_equal(f.action, CONSOLE_QUIT);
	assert_output(&f, "q", 1);

	/* Ctrl-A Ctrl-A p is a literal Ctrl-A then p; a plain p is a p. */
	st.pending = false;
	f = FILTER(&st, ESC ESC "p" "p");
	assert_int_equal(f.action, CONSOLE_NONE);
	assert_output(&f, ESC "pp", 3);
}

/* --- guest output: queued, never blocking on the reader ----------------- */

static void stop_noop(void *opaque, enum vm_stop_reason reason)
{
	(void)opaque;
	(void)reason;
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* A console on /dev/null (input: ends at once) and the write end of a pipe. */
static void console_on_pipe(struct console *c, int p[2])
{
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(in >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(console_start(c, in, p[1], NULL, stop_noop, NULL), 0);
	assert_false(c->out_tty);
}

/* A reader that stopped reading: 4 MiB of guest output (a pipe holds 64 KiB,
 * the queue 256 KiB) must neither block the writer nor hold up console_stop
 * past its drain time; what could not be written is counted. */
static void test_output_stalled_reader(void **state)
{
	static uint8_t chunk[4096];
	struct console c;
	uint64_t t0, t_write, t_stop;
	int p[2];

	(void)state;
	memset(chunk, 'g', sizeof(chunk));
	console_on_pipe(&c, p);
	t0 = now_ms();
	for (int i = 0; i < 1024; i++)
		console_write(&c, chunk, sizeof(chunk));
	t_write = now_ms() - t0;
	t0 = now_ms();
	console_stop(&c);
	t_stop = now_ms() - t0;
	assert_true(t_write < 1000);
	assert_true(t_stop < CONSOLE_OUT_DRAIN_MS + 1000);
	/* at most pipe + queue got through; the rest was dropped */
	assert_true(c.out_dropped >= 4ull * 1024 * 1024 - CONSOLE_OUT_RING - 1024 * 1024);
	close(p[0]);
	close(p[1]);
	close(c.in_fd);
}

struct reader {
	int fd;
	uint8_t *buf;
	size_t len, cap;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	ssize_t n;

	while ((n = read(r->fd, r->buf + r->len, r->cap - r->len)) > 0)
		r->len += (size_t)n;
	return NULL;
}

/* A reader that keeps up gets every byte, in order. */
static void test_output_reader_gets_everything(void **state)
{
	struct console c;
	struct reader r = { 0 };
	pthread_t t;
	size_t total = CONSOLE_OUT_RING - 1;   /* fits the queue whatever the reader does */
	uint8_t *want = malloc(total);
	int p[2];

	(void)state;
	assert_non_null(want);
	for (size_t i = 0; i < total; i++)
		want[i] = (uint8_t)(i * 7 + i / 251);
	console_on_pipe(&c, p);
	r.fd = p[0];
	r.cap = total + 1;
	r.buf = malloc(r.cap);
	assert_non_null(r.buf);
	assert_int_equal(pthread_create(&t, NULL, reader_thread, &r), 0);
	for (size_t off = 0; off < total; off += 1000)
		console_write(&c, want + off, total - off < 1000 ? total - off : 1000);
	console_stop(&c);
	close(p[1]);
	pthread_join(t, NULL);
	assert_int_equal(c.out_dropped, 0);
	assert_int_equal(r.len, total);
	assert_memory_equal(r.buf, want, total);
	close(p[0]);
	close(c.in_fd);
	free(r.buf);
	free(want);
}

/* The reader went away (a closed pipe): output is discarded, nothing blocks. */
static void test_output_reader_gone(void **state)
{
	static uint8_t chunk[1000];
	struct console c;
	int p[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	console_on_pipe(&c, p);
	close(p[0]);
	for (int i = 0; i < 100; i++)
		console_write(&c, chunk, sizeof(chunk));
	console_stop(&c);
	assert_true(c.out_dropped > 0);
	close(p[1]);
	close(c.in_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_bytes_pass),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_ctrl_a_x_quits),
		cmocka_unit_test(test_ctrl_a_ctrl_a_sends_one),
		cmocka_unit_test(test_ctrl_a_other_byte_passes),
		cmocka_unit_test(test_escape_split_across_reads),
		cmocka_unit_test(test_ctrl_a_p_power_button),
		cmocka_unit_test(test_output_stalled_reader),
		cmocka_unit_test(test_output_reader_gets_everything),
		cmocka_unit_test(test_output_reader_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
