/* The registry: VM definitions and their states in an embedded SQLite
 * database, <state dir>/nestvm.db.
 *
 * - WAL journal, synchronous=FULL: a commit is on disk when it returns, and
 *   kill -9 of any process at any moment leaves the database consistent.
 * - Every change is one transaction (BEGIN IMMEDIATE): a state transition
 *   reads the current state, asks lifecycle/state.c whether the operation is
 *   allowed, and writes the new state, atomically; two CLI commands racing
 *   on one VM are serialized by SQLite (busy timeout), never lost.
 * - The schema is versioned (PRAGMA user_version) and migrated forward step
 *   by step in one transaction; a database from a newer nestvm is refused.
 * - A file that is not a database, or a locked one, gives a clear error
 *   naming the file and what to do; never a crash.
 * - A writer waits up to 10 s for another; $NESTVM_DB_BUSY_MS (milliseconds)
 *   changes that (tests use a short wait).
 */
#ifndef NESTVM_REGISTRY_REGISTRY_H
#define NESTVM_REGISTRY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/vmconfig.h"
#include "lifecycle/state.h"
#include "lifecycle/vmdir.h"

#define REGISTRY_DB_NAME "nestvm.db"

struct registry;  /* opaque */

/* A VM as the registry holds it. cfg is owned: vm_record_free(); a
 * record passed to registry_get() is zeroed or one it filled before. */
struct vm_record {
	char name[VMCFG_NAME_MAX + 1];
	struct vm_config cfg;   /* the definition; cfg.name is name */
	enum vm_state state;
	char reason[256];       /* why it is in this state ("the guest powered off") */
	int pid;                /* the VM process while active; 0 otherwise */
	int64_t created;        /* unix seconds */
	int64_t state_changed;  /* unix seconds of the last transition */
	int64_t started;        /* unix seconds of the last start; 0 never */
	int last_exit;          /* the VM process's exit status; -1 none yet */
};

/* Fields a transition may set (NULL / -1: leave as is; reason is replaced
 * by "" when NULL). */
struct vm_transition {
	const char *reason;
	int pid;                /* -1: keep; entering a non-active state clears it */
	int last_exit;          /* -1: keep */
};

/* Which state directory: `opt` (--state-dir) if given; else
 * $NESTVM_STATE_DIR; else /var/lib/nestvm for root; else
 * $XDG_STATE_HOME/nestvm, or $HOME/.local/state/nestvm. 0, or -EINVAL
 * (no HOME) / -ENAMETOOLONG with a message. */
int registry_state_dir(const char *opt, char *out, size_t len, char *err, size_t errlen);

/* Open (creating the directory, mode 0700, and the database) and migrate.
 * Errors: -ENOTRECOVERABLE corrupt / not a database, -EBUSY locked,
 * -EPROTO made by a newer nestvm, -errno otherwise; err says which file and
 * what to do. */
int registry_open(struct registry **out, const char *state_dir, char *err, size_t errlen);
void registry_close(struct registry *r);
const char *registry_dir(const struct registry *r);

/* The schema version this build writes. */
int registry_schema_version(void);

void vm_record_free(struct vm_record *rec);

/* A new definition in state STOPPED (checked by vmconfig_check; it needs a
 * name). -EEXIST when the name is taken. */
int registry_create(struct registry *r, const struct vm_config *d, char *err, size_t errlen);

/* -ENOENT ("no VM named 'x'") when there is none. */
int registry_get(struct registry *r, const char *name, struct vm_record *out, char *err,
		 size_t errlen);

/* Every record, sorted by name; *out is malloc'ed (registry_list_free). */
int registry_list(struct registry *r, struct vm_record **out, size_t *n, char *err,
		  size_t errlen);
void registry_list_free(struct vm_record *v, size_t n);

/* Replace a definition (same name), allowed only where VM_OP_MODIFY is:
 * else -EPERM with vm_state_refusal()'s message, `what` naming the change. */
int registry_update(struct registry *r, const struct vm_config *d, const char *what, char *err,
		    size_t errlen);

/* Delete, allowed only where VM_OP_DELETE is (-EPERM otherwise). */
int registry_delete(struct registry *r, const char *name, char *err, size_t errlen);

/* Apply `op` atomically: -ENOENT, -EPERM (refused: message from
 * vm_state_refusal()), or 0 with the state before in *from (may be NULL).
 * `t` may be NULL (no reason, keep pid and last_exit). VM_OP_START sets
 * `started`; MODIFY and CONSOLE only check (nothing is written); DELETE
 * deletes, like registry_delete(). */
int registry_transition(struct registry *r, const char *name, enum vm_op op,
			const struct vm_transition *t, enum vm_state *from, char *err,
			size_t errlen);

/* A record says a process should be there (starting, running, paused,
 * stopping) but none holds the liveness lock: the process died without
 * recording it (kill -9, a crash). Mark it crashed with the reason and
 * update *rec. 0 when nothing was to be done or it was done; -errno. */
int vm_reconcile(struct registry *reg, const struct vm_paths *p, struct vm_record *rec,
		 char *err, size_t errlen);

/* ---- snapshots (schema 3: table snapshots) ----
 * What the registry knows of a snapshot nestvm wrote for a VM: the files
 * are in `dir` (docs/snapshot.md); the record lists it. Deleting a VM
 * deletes its records (not the files). */
#define SNAPSHOT_DIR_MAX 4096

struct snapshot_record {
	char vm[VMCFG_NAME_MAX + 1];
	char dir[SNAPSHOT_DIR_MAX];   /* absolute, as written */
	int64_t created;              /* unix seconds */
	uint64_t size;                /* bytes the snapshot's files take on disk */
	uint64_t memory_size;         /* guest RAM bytes saved (the memory file's data) */
	bool with_disks;              /* copies of the disks are in dir */
	bool stopped;                 /* --stop: the VM was left stopped */
	bool nested_guest_running;    /* a vCPU was in guest mode (an L2 ran) at the snapshot */
};

/* Add (replacing a record of the same VM and dir). -ENOENT when the VM is
 * not defined. */
int registry_snapshot_add(struct registry *r, const struct snapshot_record *s, char *err,
			  size_t errlen);
/* The VM's snapshots, oldest first; *out malloc'ed (free()). -ENOENT when
 * the VM is not defined. */
int registry_snapshot_list(struct registry *r, const char *vm, struct snapshot_record **out,
			   size_t *n, char *err, size_t errlen);
/* Fill *out with the record of (vm, dir): -ENOENT ("no snapshot of 'vm'
 * in DIR") when there is none. */
int registry_snapshot_get(struct registry *r, const char *vm, const char *dir,
			  struct snapshot_record *out, char *err, size_t errlen);
/* Remove the record (not the files). -ENOENT when there is none. */
int registry_snapshot_delete(struct registry *r, const char *vm, const char *dir, char *err,
			     size_t errlen);

#endif
