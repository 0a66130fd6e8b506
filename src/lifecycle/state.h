/* The life of a VM definition: its states, the operations on it, and which
 * operation is allowed in which state (docs/lifecycle.md draws it).
 *
 *            create                 start (CLI)             started (VM process)
 *   (none) ─────────► STOPPED ─────────────► STARTING ───────────────► RUNNING
 *                      ▲  ▲                     │                      │  ▲
 *          exited/kill │  └──── start ── CRASHED ◄── failed ───────────┤  │ resume
 *                      │                  ▲                     pause  ▼  │
 *                      └──── STOPPING ◄───┴── stop ─────────────────  PAUSED
 *
 * Rules as EC2 and Hyper-V have them: the definition (vCPUs, memory, the
 * nested option, devices) changes only while the VM is STOPPED or CRASHED,
 * and so does deleting it. Pure, so every pair is unit-tested. */
#ifndef NESTVM_LIFECYCLE_STATE_H
#define NESTVM_LIFECYCLE_STATE_H

#include <stdbool.h>
#include <stddef.h>

enum vm_state {
	VM_STATE_STOPPED = 0,  /* defined, no process */
	VM_STATE_STARTING,     /* `start` is bringing the VM process up */
	VM_STATE_RUNNING,      /* the guest runs */
	VM_STATE_PAUSED,       /* vCPUs parked by `pause` */
	VM_STATE_STOPPING,     /* `stop` asked the guest to shut down */
	VM_STATE_CRASHED,      /* the guest or its nestvm process died; reason recorded */
	VM_STATE_COUNT
};

enum vm_op {
	VM_OP_START = 0,   /* stopped|crashed → starting            (CLI: start) */
	VM_OP_STARTED,     /* starting → running                    (VM process) */
	VM_OP_STOP,        /* running|paused → stopping             (CLI: stop) */
	VM_OP_KILL,        /* starting|running|paused|stopping → stopped (CLI: kill) */
	VM_OP_EXITED,      /* starting|running|paused|stopping → stopped (VM process ended:
			    * guest poweroff, stop, kill) */
	VM_OP_FAILED,      /* starting|running|paused|stopping → crashed (guest crash, VMM
			    * error, or the process died) */
	VM_OP_PAUSE,       /* running → paused */
	VM_OP_RESUME,      /* paused → running */
	VM_OP_MODIFY,      /* stopped|crashed, no change (CLI: set, check --fix) */
	VM_OP_DELETE,      /* stopped|crashed → gone */
	VM_OP_CONSOLE,     /* starting|running|paused|stopping, no change */
	VM_OP_COUNT
};

const char *vm_state_name(enum vm_state s);          /* "stopped", ... */
int vm_state_parse(const char *name, enum vm_state *s); /* 0 or -EINVAL */
const char *vm_op_name(enum vm_op op);              /* "start", ... */

/* A nestvm process exists (or should) in this state. */
bool vm_state_active(enum vm_state s);

/* The state after `op` from `from`; 0, or -EPERM when the rule refuses it
 * (*to untouched). For MODIFY and CONSOLE *to is `from`. */
int vm_state_next(enum vm_state from, enum vm_op op, enum vm_state *to);

/* Why `op` is refused in `from`, and what to do, in one line naming the VM:
 *   "cannot change 'web' while it is running: stop it first (nestvm stop web)"
 * `what` names the change for MODIFY ("nested virtualization", "vCPUs");
 * NULL uses the operation's own words. */
void vm_state_refusal(const char *name, enum vm_state from, enum vm_op op, const char *what,
		      char *msg, size_t len);

#endif
