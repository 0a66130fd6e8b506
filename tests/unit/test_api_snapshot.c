/* Unit tests of api_snapshot_parse (src/api/action.c), the body of POST
 * /v1/vm/snapshot: exactly {"dir": "/...", "stop"?: bool, "with_disks"?:
 * bool}. Valid bodies fill the request; every other body is refused with
 * -EINVAL and one non-empty line naming the field, and leaves the request
 * zeroed. */
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

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL,
			       &jerr);

	if (!j)
		print_error("bad test JSON %s: %s\n", text, jerr.text);
	assert_non_null(j);
	return j;
}

static void expect_ok(const char *text, const char *dir, bool stop, bool with_disks)
{
	struct api_snapshot_req *r = malloc(sizeof(*r));
	json_t *j = load(text);
	char err[256] = "";

	assert_non_null(r);
	memset(r, 0x55, sizeof(*r));
	if (api_snapshot_parse(j, r, err, sizeof(err)))
		print_error("%s refused: %s\n", text, err);
	assert_int_equal(api_snapshot_parse(j, r, err, sizeof(err)), 0);
	assert_string_equal(r->dir, dir);
	assert_int_equal(r->stop, stop);
	assert_int_equal(r->with_disks, with_disks);
	json_decref(j);
	free(r);
}

static void expect_refused_json(const json_t *j, const char *has)
{
	struct api_snapshot_req *r = malloc(sizeof(*r));
	char err[256];

	assert_non_null(r);
	memset(r, 0x55, sizeof(*r));
	memset(err, 0, sizeof(err));
	assert_int_equal(api_snapshot_parse(j, r, err, sizeof(err)), -EINVAL);
	if (!strstr(err, has))
		print_error("want '%s' in: %s\n", has, err);
	assert_non_null(strstr(err, has));
	assert_true(err[0] != 0);
	for (const char *p = err; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);   /* one printable line */
	assert_int_equal(r->dir[0], 0);
	assert_false(r->stop);
	assert_false(r->with_disks);
	/* A small buffer: cut, still terminated. */
	assert_int_equal(api_snapshot_parse(j, r, err, 8), -EINVAL);
	assert_true(strlen(err) < 8);
	free(r);
}

static void expect_refused(const char *text, const char *has)
{
	json_t *j = load(text);

	expect_refused_json(j, has);
	json_decref(j);
}

static void test_valid(void **state)
{
	(void)state;
	expect_ok("{\"dir\": \"/var/lib/snap\"}", "/var/lib/snap", false, false);
	expect_ok("{\"dir\": \"/\"}", "/", false, false);
	expect_ok("{\"dir\": \"/s\", \"stop\": true}", "/s", true, false);
	expect_ok("{\"dir\": \"/s\", \"with_disks\": true}", "/s", false, true);
	expect_ok("{\"with_disks\": true, \"stop\": true, \"dir\": \"/s p/\\u00e9\"}",
		  "/s p/\xc3\xa9", true, true);
	expect_ok("{\"dir\": \"/s\", \"stop\": false, \"with_disks\": false}", "/s", false, false);
}

static void test_not_an_object(void **state)
{
	(void)state;
	expect_refused("[\"/s\"]", "JSON object");
	expect_refused("\"/s\"", "JSON object");
	expect_refused("null", "JSON object");
	expect_refused("42", "JSON object");
	expect_refused_json(NULL, "JSON object");
}

static void test_unknown_field(void **state)
{
	(void)state;
	expect_refused("{\"dir\": \"/s\", \"force\": true}", "unknown field \"force\"");
	expect_refused("{\"Dir\": \"/s\"}", "unknown field \"Dir\"");
	expect_refused("{\"dir\": \"/s\", \"\": 1}", "unknown field \"\"");
	/* A long name is cut; a control character in it does not break the line. */
	expect_refused("{\"dir\": \"/s\", \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": 1}",
		       "unknown field");
	expect_refused("{\"dir\": \"/s\", \"a\\nb\\u001b[2J\": 1}", "unknown field");
}

static void test_dir(void **state)
{
	char *body = malloc(API_SNAPSHOT_DIR_MAX + 64);
	char *want = malloc(API_SNAPSHOT_DIR_MAX + 1);

	(void)state;
	assert_non_null(body);
	assert_non_null(want);
	expect_refused("{}", "missing field \"dir\"");
	expect_refused("{\"stop\": true}", "missing field \"dir\"");
	expect_refused("{\"dir\": 5}", "\"dir\" must be a string");
	expect_refused("{\"dir\": null}", "\"dir\" must be a string");
	expect_refused("{\"dir\": true}", "\"dir\" must be a string");
	expect_refused("{\"dir\": [\"/s\"]}", "\"dir\" must be a string");
	expect_refused("{\"dir\": {}}", "\"dir\" must be a string");
	expect_refused("{\"dir\": \"\"}", "absolute path");
	expect_refused("{\"dir\": \"snap\"}", "absolute path");
	expect_refused("{\"dir\": \"./snap\"}", "absolute path");
	expect_refused("{\"dir\": \"~/snap\"}", "absolute path");
	expect_refused("{\"dir\": \" /snap\"}", "absolute path");
	/* A NUL inside: the path would be cut at it. */
	expect_refused("{\"dir\": \"/snap\\u0000/etc\"}", "absolute path");
	expect_refused("{\"dir\": \"/snap\\u0000\"}", "absolute path");
	expect_refused("{\"dir\": \"\\u0000/snap\"}", "absolute path");
	/* The longest that fits (API_SNAPSHOT_DIR_MAX - 1 bytes), then one more. */
	memset(want, 'a', API_SNAPSHOT_DIR_MAX - 1);
	want[0] = '/';
	want[API_SNAPSHOT_DIR_MAX - 1] = 0;
	snprintf(body, API_SNAPSHOT_DIR_MAX + 64, "{\"dir\": \"%s\"}", want);
	expect_ok(body, want, false, false);
	snprintf(body, API_SNAPSHOT_DIR_MAX + 64, "{\"dir\": \"%sa\"}", want);
	expect_refused(body, "absolute path");
	free(body);
	free(want);
}

static void test_flags_not_boolean(void **state)
{
	static const char *const values[] = { "1", "0", "\"true\"", "null", "[]", "{}", "1.0" };
	char body[128];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(body, sizeof(body), "{\"dir\": \"/s\", \"stop\": %s}", values[i]);
		expect_refused(body, "field \"stop\" must be true or false");
		snprintf(body, sizeof(body), "{\"with_disks\": %s, \"dir\": \"/s\"}", values[i]);
		expect_refused(body, "field \"with_disks\" must be true or false");
	}
	/* The flag checked even when dir is wrong too: one message, either. */
	expect_refused("{\"dir\": 1, \"stop\": 1}", "must be");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_unknown_field),
		cmocka_unit_test(test_dir),
		cmocka_unit_test(test_flags_not_boolean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
