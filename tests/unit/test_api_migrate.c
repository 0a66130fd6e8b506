/* Unit tests of api_migrate_parse (src/api/action.c), the body of POST
 * /v1/vm/migrate: exactly {"to": string, "psk_file"?: absolute path,
 * "max_downtime_ms"?: 1..60000, "timeout_s"?: 1..86400}. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"

static int parse(const char *text, struct api_migrate_req *r, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
	int rc;

	assert_non_null(j);
	rc = api_migrate_parse(j, r, err, errlen);
	json_decref(j);
	return rc;
}

static void test_ok(void **state)
{
	struct api_migrate_req *r = malloc(sizeof(*r));
	char err[256] = "";

	(void)state;
	assert_non_null(r);
	assert_int_equal(parse("{\"to\": \"unix:/tmp/m.sock\"}", r, err, sizeof(err)), 0);
	assert_string_equal(r->to, "unix:/tmp/m.sock");
	assert_string_equal(r->psk_file, "");
	assert_int_equal(r->max_downtime_ms, 0);
	assert_int_equal(r->timeout_s, 0);
	assert_int_equal(parse("{\"to\": \"tcp:127.0.0.1:4444\", \"psk_file\": \"/k\", "
			       "\"max_downtime_ms\": 500, \"timeout_s\": 86400}", r, err,
			       sizeof(err)), 0);
	assert_string_equal(r->psk_file, "/k");
	assert_int_equal(r->max_downtime_ms, 500);
	assert_int_equal(r->timeout_s, 86400);
	free(r);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"[]", "\"to\"", "{}", "{\"to\": 1}", "{\"to\": \"\"}",
		"{\"to\": \"unix:/x\", \"extra\": 1}",
		"{\"to\": \"unix:/x\", \"psk_file\": \"relative\"}",
		"{\"to\": \"unix:/x\", \"psk_file\": 3}",
		"{\"to\": \"unix:/x\", \"max_downtime_ms\": 0}",
		"{\"to\": \"unix:/x\", \"max_downtime_ms\": 60001}",
		"{\"to\": \"unix:/x\", \"max_downtime_ms\": 1.5}",
		"{\"to\": \"unix:/x\", \"timeout_s\": -1}",
		"{\"to\": \"unix:/x\", \"timeout_s\": \"10\"}",
	};
	struct api_migrate_req *r = malloc(sizeof(*r));

	(void)state;
	assert_non_null(r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";

		if (parse(bad[i], r, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
		assert_null(strchr(err, '\n'));
	}
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
