/* Unit tests of the lifecycle commands' common argument handling
 * (src/cli/vmctl.c): --state-dir taken out of argv wherever it is. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/vmctl.h"

static void test_state_dir_forms(void **state)
{
	char *a1[] = { "show", "--state-dir", "/s", "web", NULL };
	char *a2[] = { "set", "web", "--cpus", "2", "--state-dir=/t", NULL };
	char *a3[] = { "list", "--json", NULL };
	char err[128];
	const char *dir;
	int argc;

	(void)state;
	argc = 4;
	assert_int_equal(vmctl_take_state_dir(&argc, a1, &dir, err, sizeof(err)), 0);
	assert_string_equal(dir, "/s");
	assert_int_equal(argc, 2);
	assert_string_equal(a1[1], "web");
	assert_null(a1[2]);
	argc = 5;
	assert_int_equal(vmctl_take_state_dir(&argc, a2, &dir, err, sizeof(err)), 0);
	assert_string_equal(dir, "/t");
	assert_int_equal(argc, 4);
	assert_string_equal(a2[3], "2");
	argc = 2;
	assert_int_equal(vmctl_take_state_dir(&argc, a3, &dir, err, sizeof(err)), 0);
	assert_null(dir);
	assert_int_equal(argc, 2);
}

static void test_state_dir_errors_and_dashdash(void **state)
{
	char *a1[] = { "list", "--state-dir", NULL };
	char *a2[] = { "list", "--state-dir=", NULL };
	char *a3[] = { "create", "x", "--", "--state-dir", "/no", NULL };
	char err[128];
	const char *dir;
	int argc;

	(void)state;
	argc = 2;
	assert_int_equal(vmctl_take_state_dir(&argc, a1, &dir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--state-dir needs a directory"));
	argc = 2;
	assert_int_equal(vmctl_take_state_dir(&argc, a2, &dir, err, sizeof(err)), -EINVAL);
	/* After "--" nothing is an option of ours. */
	argc = 5;
	assert_int_equal(vmctl_take_state_dir(&argc, a3, &dir, err, sizeof(err)), 0);
	assert_null(dir);
	assert_int_equal(argc, 5);
}

static void test_status_mapping(void **state)
{
	(void)state;
	assert_int_equal(vmctl_status(0), 0);
	assert_int_equal(vmctl_status(-EPERM), EXIT_REFUSED);
	assert_int_equal(vmctl_status(-ENOENT), EXIT_USAGE);
	assert_int_equal(vmctl_status(-EEXIST), EXIT_USAGE);
	assert_int_equal(vmctl_status(-EBUSY), EXIT_VMM_ERROR);
	assert_int_equal(vmctl_status(-ENOTRECOVERABLE), EXIT_VMM_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_dir_forms),
		cmocka_unit_test(test_state_dir_errors_and_dashdash),
		cmocka_unit_test(test_status_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
