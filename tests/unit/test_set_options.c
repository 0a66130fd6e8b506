/* Unit tests of `nestvm set NAME`'s option parser (src/cli/set_options.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/options.h"

static int parse(struct set_options *s, char *err, size_t errlen, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"web";
	va_start(ap, errlen);
	for (char *a = va_arg(ap, char *); a && argc < 31; a = va_arg(ap, char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return options_parse_set(argc, argv, s, err, errlen);
}

static void test_set_scalars(void **state)
{
	struct set_options s;
	char err[256];

	(void)state;
	assert_int_equal(parse(&s, err, sizeof(err), "--cpus", "4", "--memory", "2G", "--nested",
			       "on", "--max-depth", "3", "--rng", "off", NULL), 0);
	assert_true(s.has_cpus && s.has_memory && s.has_nested && s.has_max_depth && s.has_rng);
	assert_int_equal(s.cpus, 4);
	assert_int_equal(s.memory, 2ULL << 30);
	assert_true(s.nested);
	assert_int_equal(s.max_depth, 3);
	assert_false(s.rng);
	assert_false(s.set_disks || s.set_nics);
	assert_null(s.kernel);
}

static void test_set_only_named_fields(void **state)
{
	struct set_options s;
	char err[256];

	(void)state;
	assert_int_equal(parse(&s, err, sizeof(err), "--nested", "off", NULL), 0);
	assert_true(s.has_nested);
	assert_false(s.nested);
	assert_false(s.has_cpus || s.has_memory || s.has_max_depth || s.has_rng);
	assert_int_equal(parse(&s, err, sizeof(err), "--max-depth", "none", NULL), 0);
	assert_true(s.has_max_depth);
	assert_int_equal(s.max_depth, 0);
	assert_int_equal(parse(&s, err, sizeof(err), "--initrd", "none", "--cmdline", "", NULL),
			 0);
	assert_string_equal(s.initrd, "none");
	assert_string_equal(s.cmdline, "");
}

static void test_set_devices_replace_lists(void **state)
{
	struct set_options s;
	char err[256];

	(void)state;
	assert_int_equal(parse(&s, err, sizeof(err), "--disk", "/a.img", "--disk", "/b.img,ro",
			       NULL), 0);
	assert_true(s.set_disks);
	assert_false(s.set_nics);
	assert_int_equal(s.dev.n_disks, 2);
	assert_string_equal(s.dev.disks[1].path, "/b.img");
	assert_true(s.dev.disks[1].readonly);
	assert_int_equal(parse(&s, err, sizeof(err), "--no-disks", NULL), 0);
	assert_true(s.set_disks);
	assert_int_equal(s.dev.n_disks, 0);
	assert_int_equal(parse(&s, err, sizeof(err), "--nic", "tap:t0", "--mac-spoofing", "on",
			       "--allow-mac", "02:00:00:00:00:09", NULL), 0);
	assert_true(s.set_nics);
	assert_int_equal(s.dev.n_nics, 1);
	assert_int_equal(s.dev.nics[0].backend, NET_BACKEND_TAP);
	assert_true(s.dev.nics[0].mac_spoofing);
	assert_int_equal(s.dev.nics[0].n_allowed, 1);
	assert_int_equal(parse(&s, err, sizeof(err), "--no-nics", NULL), 0);
	assert_true(s.set_nics);
	assert_int_equal(s.dev.n_nics, 0);
}

static void test_set_errors(void **state)
{
	static const char *const bad[][3] = {
		{ "--cpus", "0", "--cpus" },
		{ "--cpus", "x", "not a number" },
		{ "--memory", "1K", "too small" },
		{ "--nested", "yes", "use on or off" },
		{ "--rng", "maybe", "use on or off" },
		{ "--max-depth", "0", "out of range" },
		{ "--max-depth", "65", "out of range" },
		{ "--kernel", "", "needs a path" },
		{ "--mac", "01:00:00:00:00:01", "unicast" },
		{ "--forward", "udp:1:2", "tcp:HOSTPORT:GUESTPORT" },
		{ "--bogus", "1", "unknown option '--bogus'" },
	};
	struct set_options s;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&s, err, sizeof(err), bad[i][0], bad[i][1], NULL), -EINVAL);
		if (!strstr(err, bad[i][2]))
			fail_msg("%s %s: '%s' lacks '%s'", bad[i][0], bad[i][1], err, bad[i][2]);
	}
	assert_int_equal(parse(&s, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "nothing to change"));
	assert_int_equal(parse(&s, err, sizeof(err), "--cpus", NULL), -EINVAL);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(parse(&s, err, sizeof(err), "--cpus", "2", "extra", NULL), -EINVAL);
	assert_non_null(strstr(err, "unexpected argument 'extra'"));
}

static void test_set_help(void **state)
{
	struct set_options s;
	char err[256];

	(void)state;
	assert_int_equal(parse(&s, err, sizeof(err), "--help", NULL), 0);
	assert_true(s.help);
	assert_non_null(strstr(options_set_usage(), "only while the VM is stopped"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_scalars),
		cmocka_unit_test(test_set_only_named_fields),
		cmocka_unit_test(test_set_devices_replace_lists),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_set_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
