#include "api/api.h"

#include <errno.h>
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
