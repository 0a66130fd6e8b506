/* The nestvm subcommands. Each takes argc/argv starting at its own name and
 * returns the process exit status. */
#ifndef NESTVM_CLI_COMMANDS_H
#define NESTVM_CLI_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses (documented in README and `nestvm run --help`). */
#define EXIT_GUEST_DONE     0
#define EXIT_USAGE          1
#define EXIT_NO_KVM         2
#define EXIT_GUEST_CRASH    3
#define EXIT_VMM_ERROR      4

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_check(int argc, char **argv);

/* VM definitions and their lifecycle (cmd_vm.c, cmd_power.c, cmd_check_vm.c). */
int cmd_create(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_check_vm(int argc, char **argv);
/* Checks of a running VM's internals: state-roundtrip (cmd_debug.c). */
int cmd_debug(int argc, char **argv);
/* The background process of a started VM (cmd_vmproc.c; run by start). */
int cmd_vmproc(int argc, char **argv);

/* Read a whole regular file of at most `max` bytes. Returns 0, or -errno
 * with a message naming `what` and `path` in err. */
int cli_load_file(const char *what, const char *path, uint64_t max, uint8_t **buf,
		  size_t *len, char *err, size_t errlen);

#endif
