/* Unit tests of the terminal filter (src/vmm/term_filter.c): what guest
 * console output may reach the operator's terminal. Each case is run whole
 * and byte by byte (a UART hands over one byte at a time): both must give
 * the same output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "vmm/term_filter.h"

/* Filter in (n bytes) whole and byte by byte; both must agree; returns the
 * output as a NUL-terminated malloc()ed string and the dropped count. */
static char *run_filter(const char *in, size_t n, uint64_t *dropped)
{
	struct term_filter a, b;
	uint8_t *whole = malloc(n + TERM_FILTER_HOLD + 1), *bytes = malloc(n + TERM_FILTER_HOLD + 1);
	size_t wn, bn = 0;

	assert_non_null(whole);
	assert_non_null(bytes);
	term_filter_init(&a);
	term_filter_init(&b);
	wn = term_filter_run(&a, (const uint8_t *)in, n, whole);
	for (size_t i = 0; i < n; i++)
		bn += term_filter_run(&b, (const uint8_t *)in + i, 1, bytes + bn);
	assert_int_equal(wn, bn);
	assert_memory_equal(whole, bytes, wn);
	assert_int_equal(a.dropped, b.dropped);
	assert_true(wn + a.dropped <= n);
	whole[wn] = 0;
	free(bytes);
	if (dropped)
		*dropped = a.dropped;
	return (char *)whole;
}

#define EXPECT(lit, want)                                                   \
	do {                                                                \
		char *got_ = run_filter((lit), sizeof(lit) - 1, NULL);     \
		assert_string_equal(got_, (want));                          \
		free(got_);                                                 \
	} while (0)

static void test_plain_text_passes(void **s)
{
	(void)s;
	EXPECT("Linux version 6.1.0\r\n\tok\b!", "Linux version 6.1.0\r\n\tok\b!");
}

static void test_controls_dropped(void **s)
{
	uint64_t dropped;
	char *got = run_filter("a\x07" "b\x00" "c\x7f" "d\x0e" "e\x0f", 10, &dropped);

	(void)s;
	assert_string_equal(got, "abcde");
	assert_int_equal(dropped, 5);
	free(got);
}

static void test_colours_and_cursor_pass(void **s)
{
	(void)s;
	EXPECT("[\x1b[0;32m  OK  \x1b[0m] Started", "[\x1b[0;32m  OK  \x1b[0m] Started");
	EXPECT("\x1b[K\x1b[2J\x1b[10;1H\x1b[3A\x1b[m", "\x1b[K\x1b[2J\x1b[10;1H\x1b[3A\x1b[m");
}

static void test_queries_that_answer_dropped(void **s)
{
	(void)s;
	/* device status report, cursor position report, device attributes,
	 * window title report: each would make the terminal type a reply. */
	EXPECT("a\x1b[6nb\x1b[5nc\x1b[cd\x1b[>0ce\x1b[21tf", "abcdef");
}

static void test_modes_and_private_dropped(void **s)
{
	(void)s;
	EXPECT("x\x1b[?1049hy\x1b[?2004lz\x1b[4h\x1b[1;24r.", "xyz.");
	/* '?' in an otherwise allowed final byte is still private */
	EXPECT("\x1b[?25m.", ".");
}

static void test_osc_and_dcs_strings_dropped(void **s)
{
	(void)s;
	/* window title (BEL-terminated), clipboard (OSC 52, ST-terminated),
	 * DCS (e.g. DECRQSS, which answers), APC, PM, SOS */
	EXPECT("a\x1b]0;pwned\x07" "b\x1b]52;c;ZWNobyBoaQ==\x1b\\c\x1bP$qm\x1b\\d", "abcd");
	EXPECT("1\x1b_apc\x1b\\2\x1b^pm\x1b\\3\x1bXsos\x1b\\4", "1234");
}

static void test_other_escapes_dropped(void **s)
{
	(void)s;
	/* full reset, a character set designation, DEC screen alignment */
	EXPECT("a\x1b" "cb\x1b(0c\x1b#8d\x1b%Ge", "abcde");
}

static void test_can_sub_cancel(void **s)
{
	(void)s;
	EXPECT("a\x1b[12\x18" "b\x1b]0;t\x1a" "c", "abc");
}

static void test_escape_restarts_sequence(void **s)
{
	(void)s;
	/* an ESC inside a CSI abandons it and starts anew */
	EXPECT("\x1b[1\x1b[31mred", "\x1b[31mred");
}

static void test_newline_ends_broken_csi(void **s)
{
	(void)s;
	EXPECT("a\x1b[1\nb", "a\nb");
}

static void test_overlong_csi_dropped(void **s)
{
	char in[200];
	char *got;

	(void)s;
	memcpy(in, "\x1b[", 2);
	memset(in + 2, '1', 100);
	memcpy(in + 102, "mok", 4);
	got = run_filter(in, strlen(in), NULL);
	assert_string_equal(got, "ok");
	free(got);
}

static void test_unterminated_string_given_up(void **s)
{
	size_t n = TERM_FILTER_STRING_MAX + 10;
	char *in = malloc(n + 3), *got;

	(void)s;
	memcpy(in, "\x1b]", 2);
	memset(in + 2, 'x', n - 2);
	memcpy(in + n - 3, "tail", 5);
	got = run_filter(in, strlen(in), NULL);
	/* the string is given up after TERM_FILTER_STRING_MAX bytes: what
	 * follows is shown again */
	assert_true(strlen(got) > 0 && strlen(got) < 20);
	assert_non_null(strstr(got, "tail"));
	free(got);
	free(in);
}

static void test_utf8_passes_c1_dropped(void **s)
{
	(void)s;
	EXPECT("\xe2\x97\x8f ok \xc3\xa9 \xf0\x9f\x90\xa7", "\xe2\x97\x8f ok \xc3\xa9 \xf0\x9f\x90\xa7");
	/* U+009B (CSI as a C1 control), raw 8-bit C1, overlong and surrogate
	 * encodings, a truncated sequence, an invalid lead byte */
	EXPECT("a\xc2\x9b" "6nb\x9b" "6nc\xc0\xaf" "d\xed\xa0\x80" "e\xe2\x97" "f\xff" "g",
	       "a6nb6ncdefg");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_passes),
		cmocka_unit_test(test_controls_dropped),
		cmocka_unit_test(test_colours_and_cursor_pass),
		cmocka_unit_test(test_queries_that_answer_dropped),
		cmocka_unit_test(test_modes_and_private_dropped),
		cmocka_unit_test(test_osc_and_dcs_strings_dropped),
		cmocka_unit_test(test_other_escapes_dropped),
		cmocka_unit_test(test_can_sub_cancel),
		cmocka_unit_test(test_escape_restarts_sequence),
		cmocka_unit_test(test_newline_ends_broken_csi),
		cmocka_unit_test(test_overlong_csi_dropped),
		cmocka_unit_test(test_unterminated_string_given_up),
		cmocka_unit_test(test_utf8_passes_c1_dropped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
