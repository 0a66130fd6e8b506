/* The VM state machine as data: one table of transitions, one table of what
 * to tell the user when a transition is refused. */
#include "lifecycle/state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const vm_state_names[VM_STATE_COUNT] = {
	[VM_STATE_STOPPED] = "stopped",
	[VM_STATE_STARTING] = "starting",
	[VM_STATE_RUNNING] = "running",
	[VM_STATE_PAUSED] = "paused",
	[VM_STATE_STOPPING] = "stopping",
	[VM_STATE_CRASHED] = "crashed",
};

static const char *const vm_op_names[VM_OP_COUNT] = {
	[VM_OP_START] = "start",
	[VM_OP_STARTED] = "started",
	[VM_OP_STOP] = "stop",
	[VM_OP_KILL] = "kill",
	[VM_OP_EXITED] = "exited",
	[VM_OP_FAILED] = "failed",
	[VM_OP_PAUSE] = "pause",
	[VM_OP_RESUME] = "resume",
	[VM_OP_MODIFY] = "modify",
	[VM_OP_DELETE] = "delete",
	[VM_OP_CONSOLE] = "console",
};

/* Entries of the transition table: a state (stored +1, so that the zero an
 * entry left out of an initializer gets means "refused"), or SAME for the
 * operations that check the state without changing it. */
#define NO   0
#define SAME (-1)
#define TO(s) ((signed char)((s) + 1))

#define S_STOPPED  TO(VM_STATE_STOPPED)
#define S_STARTING TO(VM_STATE_STARTING)
#define S_RUNNING  TO(VM_STATE_RUNNING)
#define S_PAUSED   TO(VM_STATE_PAUSED)
#define S_STOPPING TO(VM_STATE_STOPPING)
#define S_CRASHED  TO(VM_STATE_CRASHED)

/* vm_transitions[op][from]: docs/lifecycle.md prints the same table. */
static const signed char vm_transitions[VM_OP_COUNT][VM_STATE_COUNT] = {
	[VM_OP_START] = {
		[VM_STATE_STOPPED] = S_STARTING, [VM_STATE_CRASHED] = S_STARTING,
	},
	[VM_OP_STARTED] = {
		[VM_STATE_STARTING] = S_RUNNING,
	},
	[VM_OP_STOP] = {
		[VM_STATE_RUNNING] = S_STOPPING, [VM_STATE_PAUSED] = S_STOPPING,
	},
	[VM_OP_KILL] = {
		[VM_STATE_STARTING] = S_STOPPED, [VM_STATE_RUNNING] = S_STOPPED,
		[VM_STATE_PAUSED] = S_STOPPED, [VM_STATE_STOPPING] = S_STOPPED,
	},
	[VM_OP_EXITED] = {
		[VM_STATE_STARTING] = S_STOPPED, [VM_STATE_RUNNING] = S_STOPPED,
		[VM_STATE_PAUSED] = S_STOPPED, [VM_STATE_STOPPING] = S_STOPPED,
	},
	[VM_OP_FAILED] = {
		[VM_STATE_STARTING] = S_CRASHED, [VM_STATE_RUNNING] = S_CRASHED,
		[VM_STATE_PAUSED] = S_CRASHED, [VM_STATE_STOPPING] = S_CRASHED,
	},
	[VM_OP_PAUSE] = {
		[VM_STATE_RUNNING] = S_PAUSED,
	},
	[VM_OP_RESUME] = {
		[VM_STATE_PAUSED] = S_RUNNING,
	},
	[VM_OP_MODIFY] = {
		[VM_STATE_STOPPED] = SAME, [VM_STATE_CRASHED] = SAME,
	},
	/* The record goes away; *to is `from` like the other checks. */
	[VM_OP_DELETE] = {
		[VM_STATE_STOPPED] = SAME, [VM_STATE_CRASHED] = SAME,
	},
	[VM_OP_CONSOLE] = {
		[VM_STATE_STARTING] = SAME, [VM_STATE_RUNNING] = SAME,
		[VM_STATE_PAUSED] = SAME, [VM_STATE_STOPPING] = SAME,
	},
};

/* What a refusal suggests: the command that leads to a state where the
 * operation is allowed, or nothing when there is none worth naming. */
enum vm_advice {
	ADV_NONE = 0,
	ADV_START,       /* start it first: nestvm start NAME */
	ADV_STOP,        /* stop it first (nestvm stop NAME) */
	ADV_STOP_KILL,   /* stop or kill it first (nestvm stop NAME) */
	ADV_WAIT_KILL,   /* wait until it runs/stops, or kill it (nestvm kill NAME) */
	ADV_KILL,        /* to end it now: nestvm kill NAME */
	ADV_RESUME,      /* resume it: nestvm resume NAME */
	ADV_WAIT,        /* wait until it runs */
};

#define ALREADY 0x80  /* "it is already X": the operation's effect is under way or done */

/* vm_refusals[op][from] for the refused pairs: an advice, maybe | ALREADY. */
static const unsigned char vm_refusals[VM_OP_COUNT][VM_STATE_COUNT] = {
	[VM_OP_START] = {
		[VM_STATE_STARTING] = ALREADY, [VM_STATE_RUNNING] = ALREADY,
		[VM_STATE_PAUSED] = ADV_RESUME, [VM_STATE_STOPPING] = ADV_WAIT_KILL,
	},
	[VM_OP_STARTED] = {
		[VM_STATE_RUNNING] = ALREADY,
	},
	[VM_OP_STOP] = {
		[VM_STATE_STOPPED] = ALREADY, [VM_STATE_STARTING] = ADV_WAIT_KILL,
		[VM_STATE_STOPPING] = ALREADY | ADV_KILL,
	},
	[VM_OP_KILL] = {
		[VM_STATE_STOPPED] = ALREADY,
	},
	[VM_OP_PAUSE] = {
		[VM_STATE_STOPPED] = ADV_START, [VM_STATE_STARTING] = ADV_WAIT,
		[VM_STATE_PAUSED] = ALREADY, [VM_STATE_CRASHED] = ADV_START,
	},
	[VM_OP_RESUME] = {
		[VM_STATE_STOPPED] = ADV_START, [VM_STATE_STARTING] = ADV_WAIT,
		[VM_STATE_RUNNING] = ALREADY, [VM_STATE_CRASHED] = ADV_START,
	},
	[VM_OP_MODIFY] = {
		[VM_STATE_STARTING] = ADV_WAIT_KILL, [VM_STATE_RUNNING] = ADV_STOP,
		[VM_STATE_PAUSED] = ADV_STOP, [VM_STATE_STOPPING] = ADV_WAIT_KILL,
	},
	[VM_OP_DELETE] = {
		[VM_STATE_STARTING] = ADV_WAIT_KILL, [VM_STATE_RUNNING] = ADV_STOP_KILL,
		[VM_STATE_PAUSED] = ADV_STOP_KILL, [VM_STATE_STOPPING] = ADV_WAIT_KILL,
	},
	[VM_OP_CONSOLE] = {
		[VM_STATE_STOPPED] = ADV_START, [VM_STATE_CRASHED] = ADV_START,
	},
};

const char *vm_state_name(enum vm_state s)
{
	if ((unsigned int)s >= VM_STATE_COUNT)
		return "unknown";
	return vm_state_names[s];
}

int vm_state_parse(const char *name, enum vm_state *s)
{
	for (int i = 0; name && i < VM_STATE_COUNT; i++) {
		if (strcmp(name, vm_state_names[i]) == 0) {
			*s = (enum vm_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *vm_op_name(enum vm_op op)
{
	if ((unsigned int)op >= VM_OP_COUNT)
		return "unknown";
	return vm_op_names[op];
}

bool vm_state_active(enum vm_state s)
{
	return s == VM_STATE_STARTING || s == VM_STATE_RUNNING || s == VM_STATE_PAUSED ||
	       s == VM_STATE_STOPPING;
}

int vm_state_next(enum vm_state from, enum vm_op op, enum vm_state *to)
{
	signed char t;

	if ((unsigned int)from >= VM_STATE_COUNT || (unsigned int)op >= VM_OP_COUNT)
		return -EINVAL;
	t = vm_transitions[op][from];
	if (t == NO)
		return -EPERM;
	*to = t == SAME ? from : (enum vm_state)(t - 1);
	return 0;
}

/* "start 'web'", "change nested virtualization of 'web'", ... */
static void vm_refusal_action(const char *name, enum vm_op op, const char *what, char *buf,
			      size_t len)
{
	switch (op) {
	case VM_OP_STARTED: snprintf(buf, len, "mark '%s' as started", name); break;
	case VM_OP_EXITED: snprintf(buf, len, "record that '%s' exited", name); break;
	case VM_OP_FAILED: snprintf(buf, len, "record that '%s' failed", name); break;
	case VM_OP_CONSOLE: snprintf(buf, len, "attach to the console of '%s'", name); break;
	case VM_OP_MODIFY:
		if (what && *what)
			snprintf(buf, len, "change %s of '%s'", what, name);
		else
			snprintf(buf, len, "change '%s'", name);
		break;
	default: snprintf(buf, len, "%s '%s'", vm_op_name(op), name); break;
	}
}

/* The instruction and the command of an advice; false for ADV_NONE. */
static bool vm_refusal_advice(enum vm_advice adv, enum vm_state from, const char *name,
			      const char **instr, char *cmd, size_t cmdlen)
{
	cmd[0] = '\0';
	switch (adv) {
	case ADV_START:
		*instr = "start it first";
		snprintf(cmd, cmdlen, "nestvm start %s", name);
		return true;
	case ADV_STOP:
		*instr = "stop it first";
		snprintf(cmd, cmdlen, "nestvm stop %s", name);
		return true;
	case ADV_STOP_KILL:
		*instr = "stop or kill it first";
		snprintf(cmd, cmdlen, "nestvm stop %s", name);
		return true;
	case ADV_WAIT_KILL:
		*instr = from == VM_STATE_STARTING ? "wait until it runs, or kill it"
						   : "wait until it stops, or kill it";
		snprintf(cmd, cmdlen, "nestvm kill %s", name);
		return true;
	case ADV_KILL:
		*instr = "to end it now";
		snprintf(cmd, cmdlen, "nestvm kill %s", name);
		return true;
	case ADV_RESUME:
		*instr = "resume it";
		snprintf(cmd, cmdlen, "nestvm resume %s", name);
		return true;
	case ADV_WAIT:
		*instr = "wait until it runs";
		return true;
	case ADV_NONE:
	default:
		return false;
	}
}

/* Two shapes, by what the operation needs:
 *   changing the definition: "cannot delete 'web' while it is paused: stop or
 *   kill it first (nestvm stop web)";
 *   anything else: "cannot pause 'web': it is stopped (start it first:
 *   nestvm start web)". */
void vm_state_refusal(const char *name, enum vm_state from, enum vm_op op, const char *what,
		      char *msg, size_t len)
{
	char action[160], cmd[96];
	const char *instr = "", *state = vm_state_name(from);
	enum vm_state to;
	unsigned char r;
	bool has_advice, change;

	if (!name)
		name = "?";
	vm_refusal_action(name, op, what, action, sizeof(action));
	if ((unsigned int)from >= VM_STATE_COUNT || (unsigned int)op >= VM_OP_COUNT) {
		snprintf(msg, len, "cannot %s: unknown state or operation", action);
		return;
	}
	if (vm_state_next(from, op, &to) == 0) {
		snprintf(msg, len, "'%s' is %s: %s is allowed", name, state, vm_op_name(op));
		return;
	}
	r = vm_refusals[op][from];
	has_advice = vm_refusal_advice((enum vm_advice)(r & ~ALREADY), from, name, &instr, cmd,
				       sizeof(cmd));
	change = op == VM_OP_MODIFY || op == VM_OP_DELETE;
	if (change)
		snprintf(msg, len, "cannot %s while it is %s%s%s%s%s%s", action, state,
			 has_advice ? ": " : "", instr, *cmd ? " (" : "", cmd, *cmd ? ")" : "");
	else if (from == VM_STATE_CRASHED)
		snprintf(msg, len, "cannot %s: it has crashed%s%s%s%s%s", action,
			 has_advice ? " (" : "", instr, *cmd ? ": " : "", cmd, has_advice ? ")" : "");
	else
		snprintf(msg, len, "cannot %s: it is %s%s%s%s%s%s%s", action,
			 (r & ALREADY) ? "already " : "", state, has_advice ? " (" : "", instr,
			 *cmd ? ": " : "", cmd, has_advice ? ")" : "");
}
