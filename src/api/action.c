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
			snprintf(err, errlen, "unknown field \"%.64s\" (dir, stop, with_disks)", key);
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
