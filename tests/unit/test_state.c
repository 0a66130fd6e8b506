/* Unit tests of src/lifecycle/state.c: every (state, operation) pair against
 * a table written here from the rules (EC2/Hyper-V: the definition changes
 * only while stopped or crashed), and the refusal messages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lifecycle/state.h"

/* The allowed pairs, as words, written from docs/lifecycle.md; every pair
 * not listed must be refused. "=" means the state does not change. */
static const struct {
	const char *op, *from, *to;
} allowed[] = {
	{ "start", "stopped", "starting" },   { "start", "crashed", "starting" },
	{ "started", "starting", "running" },
	{ "stop", "running", "stopping" },    { "stop", "paused", "stopping" },
	{ "kill", "starting", "stopped" },    { "kill", "running", "stopped" },
	{ "kill", "paused", "stopped" },      { "kill", "stopping", "stopped" },
	{ "exited", "starting", "stopped" },  { "exited", "running", "stopped" },
	{ "exited", "paused", "stopped" },    { "exited", "stopping", "stopped" },
	{ "failed", "starting", "crashed" },  { "failed", "running", "crashed" },
	{ "failed", "paused", "crashed" },    { "failed", "stopping", "crashed" },
	{ "pause", "running", "paused" },
	{ "resume", "paused", "running" },
	{ "modify", "stopped", "=" },         { "modify", "crashed", "=" },
	{ "delete", "stopped", "=" },         { "delete", "crashed", "=" },
	{ "console", "starting", "=" },       { "console", "running", "=" },
	{ "console", "paused", "=" },         { "console", "stopping", "=" },
};

static enum vm_state state_of(const char *word)
{
	enum vm_state s = VM_STATE_COUNT;

	if (vm_state_parse(word, &s) != 0)
		fail_msg("vm_state_parse(\"%s\") failed", word);
	return s;
}

static int find_allowed(const char *op, const char *from)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(allowed[i].op, op) == 0 && strcmp(allowed[i].from, from) == 0)
			return (int)i;
	return -1;
}

static void test_names_round_trip(void **state)
{
	static const char *const ops[] = { "start", "started", "stop", "kill", "exited", "failed",
					   "pause", "resume", "modify", "delete", "console" };
	enum vm_state s;

	(void)state;
	assert_int_equal(VM_STATE_COUNT, 6);
	assert_int_equal(VM_OP_COUNT, 11);
	for (int i = 0; i < VM_STATE_COUNT; i++) {
		assert_int_equal(vm_state_parse(vm_state_name((enum vm_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	for (int i = 0; i < VM_OP_COUNT; i++)
		assert_string_equal(vm_op_name((enum vm_op)i), ops[i]);
	s = VM_STATE_PAUSED;
	assert_int_equal(vm_state_parse("Running", &s), -EINVAL);
	assert_int_equal(vm_state_parse("", &s), -EINVAL);
	assert_int_equal(vm_state_parse("runningx", &s), -EINVAL);
	assert_int_equal(vm_state_parse(NULL, &s), -EINVAL);
	assert_int_equal(s, VM_STATE_PAUSED);
	assert_string_equal(vm_state_name(VM_STATE_COUNT), "unknown");
	assert_string_equal(vm_op_name(VM_OP_COUNT), "unknown");
}

static void test_active_states(void **state)
{
	(void)state;
	assert_false(vm_state_active(state_of("stopped")));
	assert_true(vm_state_active(state_of("starting")));
	assert_true(vm_state_active(state_of("running")));
	assert_true(vm_state_active(state_of("paused")));
	assert_true(vm_state_active(state_of("stopping")));
	assert_false(vm_state_active(state_of("crashed")));
}

static void test_every_pair(void **state)
{
	int n_allowed = 0;

	(void)state;
	for (int op = 0; op < VM_OP_COUNT; op++) {
		for (int from = 0; from < VM_STATE_COUNT; from++) {
			const char *opw = vm_op_name((enum vm_op)op);
			const char *fromw = vm_state_name((enum vm_state)from);
			int i = find_allowed(opw, fromw);
			enum vm_state to = VM_STATE_COUNT;
			int r = vm_state_next((enum vm_state)from, (enum vm_op)op, &to);

			if (i < 0) {
				if (r != -EPERM || to != VM_STATE_COUNT)
					fail_msg("%s from %s: r=%d to=%d, want -EPERM, untouched",
						 opw, fromw, r, to);
				continue;
			}
			n_allowed++;
			if (r != 0)
				fail_msg("%s from %s: refused (%d), want allowed", opw, fromw, r);
			if (strcmp(allowed[i].to, "=") == 0)
				assert_int_equal(to, from);
			else
				assert_string_equal(vm_state_name(to), allowed[i].to);
		}
	}
	assert_int_equal(n_allowed, (int)(sizeof(allowed) / sizeof(allowed[0])));
}

static void test_out_of_range(void **state)
{
	enum vm_state to = VM_STATE_PAUSED;

	(void)state;
	assert_int_equal(vm_state_next(VM_STATE_COUNT, VM_OP_START, &to), -EINVAL);
	assert_int_equal(vm_state_next(VM_STATE_STOPPED, VM_OP_COUNT, &to), -EINVAL);
	assert_int_equal(to, VM_STATE_PAUSED);
}

/* The definition may change, and the VM be deleted, only while no process
 * runs it: exactly the inactive states. */
static void test_modify_and_delete_follow_activity(void **state)
{
	(void)state;
	for (int from = 0; from < VM_STATE_COUNT; from++) {
		enum vm_state to;
		bool active = vm_state_active((enum vm_state)from);

		assert_int_equal(vm_state_next((enum vm_state)from, VM_OP_MODIFY, &to) == 0, !active);
		assert_int_equal(vm_state_next((enum vm_state)from, VM_OP_DELETE, &to) == 0, !active);
		assert_int_equal(vm_state_next((enum vm_state)from, VM_OP_CONSOLE, &to) == 0, active);
	}
}

/* Every refused pair: one line with the name, the state, and where there is
 * one, the command to run. */
static const struct {
	const char *op, *from, *command;  /* command NULL: none to suggest */
} refusal_cmds[] = {
	{ "start", "starting", NULL },        { "start", "running", NULL },
	{ "start", "paused", "nestvm resume web" },
	{ "start", "stopping", "nestvm kill web" },
	{ "stop", "starting", "nestvm kill web" },
	{ "stop", "stopping", "nestvm kill web" },
	{ "stop", "stopped", NULL },          { "stop", "crashed", NULL },
	{ "kill", "stopped", NULL },          { "kill", "crashed", NULL },
	{ "pause", "stopped", "nestvm start web" },
	{ "pause", "crashed", "nestvm start web" },
	{ "resume", "stopped", "nestvm start web" },
	{ "resume", "crashed", "nestvm start web" },
	{ "modify", "running", "nestvm stop web" },
	{ "modify", "paused", "nestvm stop web" },
	{ "modify", "starting", "nestvm kill web" },
	{ "modify", "stopping", "nestvm kill web" },
	{ "delete", "running", "nestvm stop web" },
	{ "delete", "paused", "nestvm stop web" },
	{ "delete", "starting", "nestvm kill web" },
	{ "delete", "stopping", "nestvm kill web" },
	{ "console", "stopped", "nestvm start web" },
	{ "console", "crashed", "nestvm start web" },
};

static void test_refusals_name_vm_state_and_command(void **state)
{
	(void)state;
	for (int op = 0; op < VM_OP_COUNT; op++) {
		for (int from = 0; from < VM_STATE_COUNT; from++) {
			const char *opw = vm_op_name((enum vm_op)op);
			const char *fromw = vm_state_name((enum vm_state)from);
			char msg[256];

			if (find_allowed(opw, fromw) >= 0)
				continue;
			memset(msg, 'X', sizeof(msg));
			vm_state_refusal("web", (enum vm_state)from, (enum vm_op)op, NULL, msg,
					 sizeof(msg));
			if (!strstr(msg, "'web'") || !strstr(msg, fromw) ||
			    strncmp(msg, "cannot ", 7) != 0 || strchr(msg, '\n'))
				fail_msg("%s from %s: \"%s\"", opw, fromw, msg);
			for (size_t i = 0; i < sizeof(refusal_cmds) / sizeof(refusal_cmds[0]); i++) {
				if (strcmp(refusal_cmds[i].op, opw) || strcmp(refusal_cmds[i].from, fromw))
					continue;
				if (refusal_cmds[i].command && !strstr(msg, refusal_cmds[i].command))
					fail_msg("%s from %s: \"%s\" lacks \"%s\"", opw, fromw, msg,
						 refusal_cmds[i].command);
				if (!refusal_cmds[i].command && strstr(msg, "nestvm "))
					fail_msg("%s from %s: \"%s\" suggests a command", opw, fromw,
						 msg);
			}
		}
	}
}

static void refusal(enum vm_state from, enum vm_op op, const char *what, const char *want)
{
	char msg[256];

	vm_state_refusal("web", from, op, what, msg, sizeof(msg));
	assert_string_equal(msg, want);
}

static void test_refusal_wording(void **state)
{
	(void)state;
	refusal(VM_STATE_RUNNING, VM_OP_MODIFY, "nested virtualization",
		"cannot change nested virtualization of 'web' while it is running: "
		"stop it first (nestvm stop web)");
	refusal(VM_STATE_RUNNING, VM_OP_MODIFY, NULL,
		"cannot change 'web' while it is running: stop it first (nestvm stop web)");
	refusal(VM_STATE_RUNNING, VM_OP_START, NULL, "cannot start 'web': it is already running");
	refusal(VM_STATE_STOPPED, VM_OP_PAUSE, NULL,
		"cannot pause 'web': it is stopped (start it first: nestvm start web)");
	refusal(VM_STATE_PAUSED, VM_OP_DELETE, NULL,
		"cannot delete 'web' while it is paused: stop or kill it first (nestvm stop web)");
	refusal(VM_STATE_STOPPING, VM_OP_MODIFY, "vCPUs",
		"cannot change vCPUs of 'web' while it is stopping: wait until it stops, "
		"or kill it (nestvm kill web)");
	refusal(VM_STATE_CRASHED, VM_OP_CONSOLE, NULL,
		"cannot attach to the console of 'web': it has crashed "
		"(start it first: nestvm start web)");
	refusal(VM_STATE_STOPPING, VM_OP_STOP, NULL,
		"cannot stop 'web': it is already stopping (to end it now: nestvm kill web)");
}

static void test_refusal_truncates_safely(void **state)
{
	char msg[16];

	(void)state;
	memset(msg, 'X', sizeof(msg));
	vm_state_refusal("a-rather-long-vm-name", VM_STATE_RUNNING, VM_OP_DELETE, NULL, msg,
			 sizeof(msg));
	assert_int_equal(strlen(msg), sizeof(msg) - 1);
	assert_memory_equal(msg, "cannot delete '", 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_active_states),
		cmocka_unit_test(test_every_pair),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_modify_and_delete_follow_activity),
		cmocka_unit_test(test_refusals_name_vm_state_and_command),
		cmocka_unit_test(test_refusal_wording),
		cmocka_unit_test(test_refusal_truncates_safely),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
