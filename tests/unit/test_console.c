/* Unit tests of the console's escape-key filter (src/machine/console.c):
 * Ctrl-A x quits, Ctrl-A p presses the power button, Ctrl-A Ctrl-A sends
 * one Ctrl-A, anything else passes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
