/* Exit statuses of a VM's run (documented in README and `nestvm run
 * --help`): what runner_run returns, what `nestvm run` and the VM process
 * exit with, what the registry records as a VM's last exit. */
#ifndef NESTVM_MACHINE_EXIT_STATUS_H
#define NESTVM_MACHINE_EXIT_STATUS_H

#define EXIT_GUEST_DONE     0
#define EXIT_USAGE          1
#define EXIT_NO_KVM         2
#define EXIT_GUEST_CRASH    3
#define EXIT_VMM_ERROR      4

#endif
