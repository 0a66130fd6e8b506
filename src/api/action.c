#include "api/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const api_action_names[API_ACTION_COUNT] = {
	[API_ACTION_PAUSE] = "pause",
	[API_ACTION_RESUME] = "resume",
	[API_ACTION_SHUTDOWN] = "shutdown",
	[API_ACTION_POWEROFF] = "poweroff",
	[API_ACTION_STATE_ROUNDTRIP] = "state-roundtrip",
};

const char *api_action_name(enum api_action a)
{
	if ((unsigned int)a >= API_ACTION_COUNT)
		return "unknown";
	return api_action_names[a];
}

int api_action_parse(const char *s, enum api_action *a)
{
	if (!s)
		return -EINVAL;
	for (unsigned int i = 0; i < API_ACTION_COUNT; i++) {
		if (strcmp(s, api_action_names[i]) == 0) {
			*a = (enum api_action)i;
			return 0;
		}
	}
	return -EINVAL;
}

int api_action_has_data(enum api_action a)
{
	return a == API_ACTION_STATE_ROUNDTRIP;
}

int api_snapshot_parse(const json_t *body, struct api_snapshot_req *out, char *err,
		       size_t errlen)
{
	const char *key, *dir;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(body)) {
		snprintf(err, errlen, "the body must be a JSON object {\"dir\": \"/...\"}");
		return -EINVAL;
	}
	json_object_foreach((json_t *)body, key, v) {
		if (strcmp(key, "dir") && strcmp(key, "stop") && strcmp(key, "with_disks")) {
			char name[65];
			size_t n = 0;

			/* The name as sent, cut, its control characters '?' (one line). */
			for (; key[n] && n < sizeof(name) - 1; n++)
				name[n] = (unsigned char)key[n] < 0x20 || key[n] == 0x7f ? '?' : key[n];
			name[n] = 0;
			snprintf(err, errlen, "unknown field \"%s\" (dir, stop, with_disks)", name);
			return -EINVAL;
		}
		if (strcmp(key, "dir") && !json_is_boolean(v)) {
			snprintf(err, errlen, "field \"%s\" must be true or false", key);
			return -EINVAL;
		}
	}
	v = json_object_get(body, "dir");
	if (!json_is_string(v)) {
		snprintf(err, errlen, v ? "field \"dir\" must be a string" :
			 "missing field \"dir\"");
		return -EINVAL;
	}
	dir = json_string_value(v);
	if (dir[0] != '/' || strlen(dir) >= sizeof(out->dir) ||
	    strlen(dir) != json_string_length(v)) {
		snprintf(err, errlen, "field \"dir\" must be an absolute path (under %zu bytes)",
			 sizeof(out->dir));
		return -EINVAL;
	}
	snprintf(out->dir, sizeof(out->dir), "%s", dir);
	out->stop = json_is_true(json_object_get(body, "stop"));
	out->with_disks = json_is_true(json_object_get(body, "with_disks"));
	return 0;
}

/* An unsigned field in [lo, hi], or absent (0). */
static int api_uint_field(const json_t *body, const char *key, unsigned int lo, unsigned int hi,
			  unsigned int *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(body, key);
	json_int_t n;

	*out = 0;
	if (!v)
		return 0;
	n = json_is_integer(v) ? json_integer_value(v) : -1;
	if (n < lo || n > hi) {
		snprintf(err, errlen, "field \"%s\" must be a whole number from %u to %u", key, lo,
			 hi);
		return -EINVAL;
	}
	*out = (unsigned int)n;
	return 0;
}

int api_migrate_parse(const json_t *body, struct api_migrate_req *out, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(body)) {
		snprintf(err, errlen, "the body must be a JSON object {\"to\": \"unix:PATH\"}");
		return -EINVAL;
	}
	json_object_foreach((json_t *)body, key, v) {
		if (strcmp(key, "to") && strcmp(key, "psk_file") && strcmp(key, "max_downtime_ms") &&
		    strcmp(key, "timeout_s")) {
			char name[65];
			size_t n = 0;

			for (; key[n] && n < sizeof(name) - 1; n++)
				name[n] = (unsigned char)key[n] < 0x20 || key[n] == 0x7f ? '?' : key[n];
			name[n] = 0;
			snprintf(err, errlen, "unknown field \"%s\" (to, psk_file, max_downtime_ms, "
				 "timeout_s)", name);
			return -EINVAL;
		}
	}
	v = json_object_get(body, "to");
	if (!json_is_string(v) || !json_string_length(v) ||
	    json_string_length(v) >= sizeof(out->to)) {
		snprintf(err, errlen, "field \"to\" must be a destination: unix:PATH or "
			 "tcp:HOST:PORT");
		return -EINVAL;
	}
	snprintf(out->to, sizeof(out->to), "%s", json_string_value(v));
	v = json_object_get(body, "psk_file");
	if (v && (!json_is_string(v) || json_string_value(v)[0] != '/' ||
		  json_string_length(v) >= sizeof(out->psk_file))) {
		snprintf(err, errlen, "field \"psk_file\" must be an absolute path");
		return -EINVAL;
	}
	if (v)
		snprintf(out->psk_file, sizeof(out->psk_file), "%s", json_string_value(v));
	if (api_uint_field(body, "max_downtime_ms", 1, 60000, &out->max_downtime_ms, err, errlen))
		return -EINVAL;
	return api_uint_field(body, "timeout_s", 1, 86400, &out->timeout_s, err, errlen);
}
