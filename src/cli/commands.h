/* The nestvm subcommands. Each takes argc/argv starting at its own name and
 * returns the process exit status. */
#ifndef NESTVM_CLI_COMMANDS_H
#define NESTVM_CLI_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses (documented in README and `nestvm run --help`). */
#include "machine/exit_status.h"

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
/* Snapshot records (cmd_snapshot_list.c): `list --snapshots NAME [--json]`,
 * which cmd_list hands its whole argv; and `snapshot delete NAME DIR`, which
 * the snapshot command calls for argv[1] "delete" with argv + 1 (argv[0] is
 * "delete"; its own argv, from "snapshot", is taken too). */
int cmd_list_snapshots(int argc, char **argv);
int cmd_snapshot_delete(int argc, char **argv);
/* Checks of a running VM's internals: state-roundtrip (cmd_debug.c). */
int cmd_debug(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
/* Live migration (cmd_migrate.c). */
int cmd_migrate(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_migration_key(int argc, char **argv);
int cmd_restore(int argc, char **argv);
/* The background process of a started VM (cmd_vmproc.c; run by start). */
int cmd_vmproc(int argc, char **argv);

#endif
