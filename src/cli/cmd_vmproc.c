/* `nestvm vm-process`: the background process of a VM that `nestvm start`
 * launched (not for users: start runs it, detached, with its liveness lock
 * and a pipe to report readiness on).
 *
 *   nestvm vm-process --state-dir DIR --ready-fd N --lock-fd M NAME
 *
 * The arguments only; the VM process itself is src/control/vmproc.c. */
#include "cli/commands.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/vmproc.h"
#include "vmm/log.h"

static int vmproc_parse(int argc, char **argv, struct vmproc_args *a)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "lock-fd", required_argument, NULL, 'l' },
		{ "restore", required_argument, NULL, 'R' },
		{ "restore-eager", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));   /* every field a vm-process command line does not set */
	a->ready_fd = -1;
	a->lock_fd = -1;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 's': a->state_dir = optarg; break;
		case 'r': a->ready_fd = atoi(optarg); break;
		case 'l': a->lock_fd = atoi(optarg); break;
		case 'R': a->restore_dir = optarg; break;
		case 'E': a->restore_eager = true; break;
		default: return -1;
		}
	}
	if (!a->state_dir || optind != argc - 1 || a->lock_fd < 0)
		return -1;
	a->name = argv[optind];
	return 0;
}

int cmd_vmproc(int argc, char **argv)
{
	struct vmproc_args a;

	if (vmproc_parse(argc, argv, &a)) {
		log_error("vm-process is started by nestvm start, not by hand");
		return EXIT_USAGE;
	}
	return vmproc_main(&a);
}
