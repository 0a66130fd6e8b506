/* The VM process: the background process of a VM that `nestvm start`
 * launched (spawn.h), one per running VM.
 *
 * It boots the VM from its definition in the registry (the machine layer's
 * runner), with the serial console on a socket and in console.log, serves
 * the control API (src/api/) and records every state change: running once
 * the vCPUs start, paused and stopping through the API, and how it ended
 * (stopped or crashed, with the reason and its exit status). A reboot of
 * the guest boots it again in the same process, as a machine reboots.
 *
 * Threads: the main thread runs the machine and carries out every API
 * action (actions.h: the API thread only parses and queues); the machine's
 * own threads (vCPUs, I/O loop, slirp); the API server's thread; the
 * console socket's thread. */
#ifndef NESTVM_CONTROL_VMPROC_H
#define NESTVM_CONTROL_VMPROC_H

#include <stdbool.h>

struct machine_incoming;

struct vmproc_args {
	const char *state_dir;
	const char *name;
	int ready_fd;     /* the pipe to `nestvm start`: "OK pid" / "ERR status msg"; -1 none */
	int lock_fd;      /* the liveness lock, held until the final state is written */
	const char *restore_dir;  /* start from this snapshot (nestvm restore); NULL: boot */
	bool restore_eager;       /* read its memory in first */
	struct machine_incoming *incoming; /* receive it from a migration (machine/migrate.h) */
};

/* Run the VM process to its end; returns its exit status (EXIT_* of
 * machine/exit_status.h, or 128+signal). Closes lock_fd last. */
int vmproc_main(const struct vmproc_args *a);

#endif
