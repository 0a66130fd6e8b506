/* Launching a VM process (`nestvm start`'s half of it): fork, setsid, fork
 * again and exec `nestvm vm-process`, so the VM process is nobody's child
 * (init reaps it) and has no controlling terminal; its stdout and stderr
 * go to the VM's vmm.log (the last one kept as vmm.log.1). It inherits the
 * liveness lock and the write end of a pipe, on which it reports, once,
 * "OK <pid>" when its vCPUs start or "ERR <status> <message>" when the
 * start failed (vmproc.h).
 *
 * Threads: the caller's; the children only exec. */
#ifndef NESTVM_CONTROL_SPAWN_H
#define NESTVM_CONTROL_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

#include "lifecycle/vmdir.h"

struct vmproc_report {
	bool said;          /* a line came; false: the process ended without a word */
	bool ok;            /* "OK pid" */
	int pid;            /* with ok */
	int status;         /* with !ok: its exit status (EXIT_*), > 0 */
	char msg[1300];     /* with !ok: its message */
};

/* A start from a snapshot (nestvm restore): the VM process restores from
 * dir instead of booting. */
struct machine_incoming;
struct vmproc_restore {
	const char *dir;    /* absolute */
	bool eager;         /* read memory in first */
	/* Or an incoming migration (nestvm receive, machine/migrate.h): the
	 * VM process is forked from the caller without exec (it goes on with
	 * the caller's stream and TLS session) and reports once the VM runs. */
	struct machine_incoming *incoming;
	int timeout_s;      /* incoming: how long the whole migration may take */
};

/* Launch the VM process of `name` and wait up to timeout_s for its report.
 * live_fd (the liveness lock) is handed to it; the caller closes its own
 * copy afterwards. rs: NULL to boot. 0 with *out filled (said, or not); -ETIMEDOUT when it
 * did not report in time; -errno when the process could not be created
 * (message in err). */
int vmproc_spawn(const char *state_dir, const struct vm_paths *paths, const char *name,
		 int live_fd, const struct vmproc_restore *rs, int timeout_s,
		 struct vmproc_report *out, char *err, size_t errlen);

#endif
