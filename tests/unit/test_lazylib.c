/* Unit tests of on-demand libraries (src/lazy/lazylib.c): a missing
 * library and a missing symbol give clear errors, remembered; a present one
 * resolves every symbol; the real tables load. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lazy/curl_lazy.h"
#include "lazy/gnutls_lazy.h"
#include "lazy/lazylib.h"
#include "lazy/mhd_lazy.h"
#include "lazy/slirp_lazy.h"
#include "lazy/sqlite_lazy.h"

static void test_missing_library(void **state)
{
	static const char *const names[] = { "nothing" };
	void *slots[1] = { NULL };
	struct lazylib l = LAZYLIB_INIT("libnestvm-absent.so.9", "nestvm-absent-pkg", names,
					slots, 1);
	char err[400];

	(void)state;
	assert_int_equal(lazylib_load(&l, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "libnestvm-absent.so.9"));
	assert_non_null(strstr(err, "install the Debian package nestvm-absent-pkg"));
	/* Remembered, not retried. */
	err[0] = '\0';
	assert_int_equal(lazylib_load(&l, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "libnestvm-absent.so.9"));
}

static void test_missing_symbol(void **state)
{
	static const char *const names[] = { "strlen", "nestvm_no_such_symbol" };
	void *slots[2] = { NULL, NULL };
	struct lazylib l = LAZYLIB_INIT("libc.so.6", "libc6", names, slots, 2);
	char err[400];

	(void)state;
	assert_int_equal(lazylib_load(&l, err, sizeof(err)), -ENOSYS);
	assert_non_null(strstr(err, "nestvm_no_such_symbol"));
}

static void test_present_library(void **state)
{
	static const char *const names[] = { "strlen", "memcpy" };
	void *slots[2] = { NULL, NULL };
	struct lazylib l = LAZYLIB_INIT("libc.so.6", "libc6", names, slots, 2);
	char err[400] = "";

	(void)state;
	assert_int_equal(lazylib_load(&l, err, sizeof(err)), 0);
	assert_non_null(slots[0]);
	assert_non_null(slots[1]);
	assert_int_equal(lazylib_load(&l, NULL, 0), 0);
}

static void test_real_tables(void **state)
{
	char err[400] = "";

	(void)state;
	assert_int_equal(sqlite_lazy_load(err, sizeof(err)), 0);
	assert_int_equal(mhd_lazy_load(err, sizeof(err)), 0);
	assert_int_equal(curl_lazy_load(err, sizeof(err)), 0);
	assert_int_equal(slirp_lazy_load(err, sizeof(err)), 0);
	assert_int_equal(gnutls_lazy_load(err, sizeof(err)), 0);
	assert_non_null(gnutls_lazy.handshake);
	assert_non_null(slirp_lazy.pollfds_poll);
	assert_non_null(sqlite_lazy.open_v2);
	assert_non_null(sqlite_lazy.last_insert_rowid);
	assert_non_null(mhd_lazy.start_daemon);
	assert_non_null(curl_lazy.slist_free_all);
	/* A call through the table reaches the library. */
	assert_string_equal(sqlite3_errstr(SQLITE_BUSY), "database is locked");
	/* gnutls_malloc is a variable: its slot points at it. */
	assert_non_null(gnutls_lazy.malloc);
	assert_non_null(*gnutls_lazy.malloc);
	assert_string_equal(gnutls_protocol_get_name(GNUTLS_TLS1_3), "TLS1.3");
	assert_string_equal(lazylib_sonames[4], "libgnutls.so.30");
	assert_int_equal(lazylib_sonames[5] == NULL, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_missing_symbol),
		cmocka_unit_test(test_present_library),
		cmocka_unit_test(test_real_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
