/* What every lifecycle command (create, start, stop, show, ...) does first:
 * find the state directory, open the registry, take the VM's operation lock
 * (so commands on one VM run one at a time), read its record and reconcile
 * it with reality (a VM whose process died shows as crashed). */
#ifndef NESTVM_CLI_VMCTL_H
#define NESTVM_CLI_VMCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "lifecycle/vmdir.h"
#include "registry/registry.h"

/* Exit status of a command refused by the state rules (e.g. `set --nested`
 * on a running VM): the message says the state and what to do. */
#define EXIT_REFUSED 5

#define VMCTL_OPLOCK_TIMEOUT_S 300

struct vmctl {
	char state_dir[VMDIR_PATH_MAX];
	struct registry *reg;
	struct vm_paths paths;
	struct vm_record rec;
	int oplock;                 /* -1: not held */
};

enum vmctl_flags {
	VMCTL_LOCK = 1,             /* take the operation lock */
	VMCTL_GET = 2,              /* read (and reconcile) the record: it must exist */
	VMCTL_TRYLOCK = 4,          /* take the operation lock if free (show, list):
				     * reconcile only then */
};

/* Remove "--state-dir DIR" / "--state-dir=DIR" from argv (anywhere after
 * argv[0]); *dir is NULL when absent. -EINVAL with a message when it has no
 * value. */
int vmctl_take_state_dir(int *argc, char **argv, const char **dir, char *err, size_t errlen);

/* Open for command on `name` (NULL: the registry only). Returns 0 or an
 * exit status (EXIT_USAGE for a bad name or unknown VM, EXIT_VMM_ERROR for
 * a registry that cannot be used), the message already printed. */
int vmctl_open(struct vmctl *c, const char *state_dir_opt, const char *name, unsigned int flags);
void vmctl_close(struct vmctl *c);

/* Stop the VM gracefully (ACPI power button), forced after timeout_s
 * (cmd_power.c). c must hold the operation lock. Returns an exit status. */
int vmctl_stop(struct vmctl *c, int timeout_s);

/* Start the VM's process (nestvm start), or with rs restore it from a
 * snapshot (nestvm restore); c must hold the operation lock and the
 * record. Prints the outcome; returns an exit status (cmd_power.c). */
struct vmproc_restore;
int vmctl_start(struct vmctl *c, const struct vmproc_restore *rs);

/* Map a registry/lifecycle -errno to an exit status. */
int vmctl_status(int r);

#endif
