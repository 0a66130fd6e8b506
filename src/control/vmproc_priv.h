/* The VM process's shared state (vmproc.c, vmproc_api.c). */
#ifndef NESTVM_CONTROL_VMPROC_PRIV_H
#define NESTVM_CONTROL_VMPROC_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "api/api.h"
#include "control/actions.h"
#include "control/console_sock.h"
#include "control/vmproc.h"
#include "lifecycle/vmdir.h"
#include "machine/quiesce.h"
#include "machine/runner.h"
#include "registry/registry.h"

struct vmproc {
	char state_dir[VMDIR_PATH_MAX];
	struct vm_paths paths;
	struct registry *reg;          /* main thread only */
	struct vm_record rec;          /* the definition as started */
	int ready_fd;                  /* -1 once readiness was reported */
	int log_fd;                    /* console.log */
	struct console_sock cs;
	bool cs_started;
	struct api_server *api;
	time_t started;
	struct action_queue actions;   /* API thread -> main thread */

	/* Main thread only: */
	struct runner *live;           /* the machine of the current boot; NULL between boots */
	struct machine_quiesce quiesce;/* its quiesce point */
	bool stop_requested;           /* shutdown/poweroff asked: no reboot loop */
	bool forced;                   /* poweroff action */
	char saved_to[API_SNAPSHOT_DIR_MAX]; /* snapshot --stop: the VM ended saved there */
	char migrated_to[API_MIGRATE_TO_MAX]; /* migrate: the VM ended, running there */
	struct machine_incoming *incoming; /* the first boot comes from a migration */
	bool started_recorded;         /* the first start is in the registry */
	const char *restore_dir;       /* the first boot restores from here; NULL: boots */
	bool restore_eager;

	/* Read by the API thread for a VM between boots (under lock). */
	pthread_mutex_t lock;
	enum vm_state state;           /* as last recorded */
	unsigned int boots;
};

/* Record a state change in the registry (main thread). */
int vmproc_transition(struct vmproc *p, enum vm_op op, const char *reason, int last_exit,
		      char *err, size_t errlen);

/* The API's side (vmproc_api.c). ops: what api_server_start gets. */
void vmproc_api_ops(struct vmproc *p, struct api_ops *ops);
/* Main thread, vm_set_control's fn: carry out the queued actions. */
void vmproc_actions_run(void *opaque);

#endif
