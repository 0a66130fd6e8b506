/* `nestvm check`: is this machine ready to run nested-capable VMs? Each
 * check has a status, the reason and the exact fix. Pure over a probe, so
 * every verdict is unit-tested with made-up machines. */
#ifndef NESTVM_NESTED_CHECK_H
#define NESTVM_NESTED_CHECK_H

#include <stdbool.h>

#include "nested/probe.h"

enum check_status { CHECK_PASS = 0, CHECK_WARN, CHECK_FAIL };

struct check_result {
	const char *id;
	enum check_status status;
	char reason[256];
	char fix[512];      /* "" when nothing to do */
};

#define CHECK_MAX 12

/* Run every host check; returns how many results were written. */
int check_host(const struct host_probe *p, struct check_result *out, int max);

/* true when no result is CHECK_FAIL: nested guests can be created here. */
bool check_ready(const struct check_result *r, int n);

const char *check_status_name(enum check_status s);

#endif
