/* Unit tests of the log's rate limit (src/vmm/log.c): a call site prints
 * LOG_BURST messages per LOG_WINDOW_MS, then says how many it left out;
 * errors and other call sites are not held back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/log.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

/* Capture stderr in a temporary file around the calls. */
static int saved_fd = -1;
static FILE *cap;

static void capture_begin(void)
{
	fflush(stderr);
	cap = tmpfile();
	assert_non_null(cap);
	saved_fd = dup(2);
	assert_true(saved_fd >= 0);
	assert_true(dup2(fileno(cap), 2) == 2);
}

/* Ends the capture; returns what was written (malloc()ed). */
static char *capture_end(void)
{
	long n;
	char *s;

	fflush(stderr);
	assert_true(dup2(saved_fd, 2) == 2);
	close(saved_fd);
	n = ftell(cap);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	rewind(cap);
	assert_int_equal(fread(s, 1, (size_t)n, cap), (size_t)n);
	fclose(cap);
	return s;
}

static unsigned int count(const char *hay, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static int setup(void **state)
{
	(void)state;
	fake_now = 1000;
	log_set_clock(fake_clock);
	log_set_level(LOG_INFO);
	return 0;
}

static void warn_site(int i)
{
	log_warn("queue %d is corrupt", i);
}

static void test_one_site_limited(void **state)
{
	char *out;

	(void)state;
	capture_begin();
	for (int i = 0; i < 1000; i++)
		warn_site(i);
	out = capture_end();
	assert_int_equal(count(out, "is corrupt"), LOG_BURST);
	assert_int_equal(count(out, "more like this in the next minute are left out"), 1);
	assert_non_null(strstr(out, "queue 9 is corrupt"));
	assert_null(strstr(out, "queue 10 is corrupt"));
	free(out);
}

static void test_window_ends_says_how_many(void **state)
{
	char *out;

	(void)state;
	capture_begin();
	for (int i = 0; i < 25; i++)
		warn_site(i);
	fake_now += LOG_WINDOW_MS - 1;
	warn_site(100);              /* still the same window */
	fake_now += 1;
	warn_site(200);              /* a new one */
	out = capture_end();
	assert_int_equal(count(out, "is corrupt"), LOG_BURST + 1);
	assert_non_null(strstr(out, "warning: 16 more messages like the next were left out\r\n"
				    "nestvm: warning: queue 200 is corrupt"));
	free(out);
}

static void test_sites_and_errors_apart(void **state)
{
	char *out;

	(void)state;
	capture_begin();
	for (int i = 0; i < 50; i++) {
		warn_site(i);
		log_info("another site %d", i);
		log_error("an error %d", i);
	}
	out = capture_end();
	assert_int_equal(count(out, "is corrupt"), LOG_BURST);
	assert_int_equal(count(out, "another site"), LOG_BURST);
	assert_int_equal(count(out, "an error"), 50);
	free(out);
}

static void test_debug_not_limited(void **state)
{
	char *out;

	(void)state;
	log_set_level(LOG_DEBUG);
	capture_begin();
	for (int i = 0; i < 50; i++)
		log_debug("exit %d", i);
	out = capture_end();
	assert_int_equal(count(out, "debug: exit"), 50);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_one_site_limited, setup),
		cmocka_unit_test_setup(test_window_ends_says_how_many, setup),
		cmocka_unit_test_setup(test_sites_and_errors_apart, setup),
		cmocka_unit_test_setup(test_debug_not_limited, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
