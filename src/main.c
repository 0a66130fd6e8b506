/* nestvm: a virtual machine monitor on KVM for nested virtualization. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "lazy/lazylib.h"
#include "vmm/log.h"

#include "vmm/version.h"

static void main_usage(FILE *out)
{
	fputs("usage: nestvm COMMAND [options]        (nestvm COMMAND --help for each)\n"
	      "\n"
	      "Run a VM in the foreground:\n"
	      "  run        boot a VM on this terminal (nestvm run --help)\n"
	      "\n"
	      "Defined VMs (kept in a state directory; --state-dir or NESTVM_STATE_DIR):\n"
	      "  create     define a VM: nestvm create NAME --kernel ... [run options]\n"
	      "  list       every VM and its state\n"
	      "  show       one VM as JSON, with its live nested status while it runs\n"
	      "  set        change a stopped VM: --cpus, --memory, --nested on|off, ...\n"
	      "  delete     remove a stopped VM's definition\n"
	      "  start      boot a VM in the background\n"
	      "  stop       shut it down (ACPI power button), forced after --timeout\n"
	      "  kill       power it off now\n"
	      "  pause      stop its vCPUs\n"
	      "  resume     run them again\n"
	      "  snapshot   save a running VM to a directory (its own guests too): NAME DIR\n"
	      "             [--stop] [--with-disks]; snapshot delete NAME DIR\n"
	      "  restore    start a stopped VM from a snapshot: NAME DIR [--eager]\n"
	      "  migrate    move a running VM to another nestvm, live: NAME --to ADDR\n"
	      "  receive    wait for a VM sent by migrate and run it: NAME --listen ADDR\n"
	      "  migration-key  write a new TLS pre-shared key for migrate/receive: FILE\n"
	      "  console    attach to its serial console (Ctrl-] detaches)\n"
	      "  debug      checks of a running VM's internals: state-roundtrip NAME\n"
	      "\n"
	      "This machine:\n"
	      "  info       where this machine stands for nesting: level, CPU, KVM (--json)\n"
	      "  check      is this machine ready to run nested-capable VMs? (--json);\n"
	      "             check NAME: what must change for VM NAME to run a hypervisor\n"
	      "  version    print the version\n"
	      "  help       this text\n", out);
}

struct main_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static const struct main_cmd main_cmds[] = {
	{ "run", cmd_run },         { "info", cmd_info },       { "create", cmd_create },
	{ "list", cmd_list },       { "show", cmd_show },       { "set", cmd_set },
	{ "delete", cmd_delete },   { "start", cmd_start },     { "stop", cmd_stop },
	{ "kill", cmd_kill },       { "pause", cmd_pause },     { "resume", cmd_resume },
	{ "console", cmd_console }, { "vm-process", cmd_vmproc },
	{ "debug", cmd_debug },     { "snapshot", cmd_snapshot }, { "restore", cmd_restore },
	{ "migrate", cmd_migrate }, { "receive", cmd_receive }, { "migration-key", cmd_migration_key },
};

/* `check` alone is the host's readiness; `check NAME` a VM's. */
static int main_check(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state-dir") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] != '-')
			return cmd_check_vm(argc, argv);
	}
	return cmd_check(argc, argv);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	signal(SIGPIPE, SIG_IGN);
	if (!cmd) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
		if (strcmp(cmd, main_cmds[i].name) == 0)
			return main_cmds[i].fn(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return main_check(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		/* --libs: the libraries loaded on demand, for image builders. */
		if (argc > 2 && strcmp(argv[2], "--libs") == 0) {
			for (int i = 0; lazylib_sonames[i]; i++)
				puts(lazylib_sonames[i]);
			return 0;
		}
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
