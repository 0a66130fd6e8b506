/* Checked reads of JSON objects (see jsoncheck.h). */
#include "vmm/jsoncheck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int jcheck_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "where: " or "". */
static const char *jcheck_sep(const char *where)
{
	return where && *where ? ": " : "";
}

#define W(where) ((where) ? (where) : ""), jcheck_sep(where)

int jcheck_known(const json_t *obj, const char *where, const char *const *keys, char *err,
		 size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;

		for (const char *const *k = keys; *k && !ok; k++)
			ok = strcmp(*k, key) == 0;
		if (!ok)
			return jcheck_err(err, errlen, "%s%sunknown field \"%s\"", W(where), key);
	}
	return 0;
}

int jcheck_str(const json_t *obj, const char *where, const char *key, bool required, size_t max,
	       const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return jcheck_err(err, errlen, "%s%s\"%s\" is required", W(where), key);
		return 0;
	}
	if (!json_is_string(v))
		return jcheck_err(err, errlen, "%s%s\"%s\" must be a string", W(where), key);
	if (json_string_length(v) >= max || strlen(json_string_value(v)) != json_string_length(v))
		return jcheck_err(err, errlen, "%s%s\"%s\" is too long or holds a NUL", W(where),
				  key);
	*out = json_string_value(v);
	return 0;
}

int jcheck_bool(const json_t *obj, const char *where, const char *key, bool *out, char *err,
		size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = false;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return jcheck_err(err, errlen, "%s%s\"%s\" must be true or false", W(where), key);
	*out = json_is_true(v);
	return 0;
}

int jcheck_int(const json_t *obj, const char *where, const char *key, bool required,
	       bool null_ok, json_int_t min, json_int_t max, json_int_t dflt, json_int_t *out,
	       char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = dflt;
	if (!v || (null_ok && json_is_null(v))) {
		if (required && !v)
			return jcheck_err(err, errlen, "%s%s\"%s\" is required", W(where), key);
		return 0;
	}
	if (!json_is_integer(v))
		return jcheck_err(err, errlen, "%s%s\"%s\" must be an integer%s", W(where), key,
				  null_ok ? " or null" : "");
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return jcheck_err(err, errlen, "%s%s\"%s\" %" JSON_INTEGER_FORMAT " is out of "
				  "range: use %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT,
				  W(where), key, json_integer_value(v), min, max);
	*out = json_integer_value(v);
	return 0;
}

int jcheck_array(const json_t *obj, const char *where, const char *key, size_t max,
		 json_t **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return jcheck_err(err, errlen, "%s%s\"%s\" must be an array", W(where), key);
	if (json_array_size(v) > max)
		return jcheck_err(err, errlen, "%s%stoo many \"%s\": at most %zu", W(where), key,
				  max);
	*out = v;
	return 0;
}
