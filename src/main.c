/* nestvm: a virtual machine monitor on KVM for nested virtualization. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "vmm/log.h"

#define NESTVM_VERSION "0.1.0"

static void main_usage(FILE *out)
{
	fputs("usage: nestvm COMMAND [options]\n"
	      "\n"
	      "Commands:\n"
	      "  run        boot a VM in the foreground (nestvm run --help)\n"
	      "  info       where this machine stands for nesting: level, CPU, KVM (--json)\n"
	      "  check      is this machine ready to run nested-capable VMs? (--json)\n"
	      "  version    print the version\n"
	      "  help       this text\n", out);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	signal(SIGPIPE, SIG_IGN);
	if (!cmd) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "info") == 0)
		return cmd_info(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("nestvm %s\n", NESTVM_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		main_usage(stdout);
		return 0;
	}
	log_error("unknown command '%s'", cmd);
	main_usage(stderr);
	return EXIT_USAGE;
}
