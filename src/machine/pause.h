/* The quiesce point of a running machine (a struct runner): its vCPUs, its
 * I/O loop and, for every device on the board's list whose class has a
 * quiesce hook, that device (machine_quiesce_add_class). */
#ifndef NESTVM_MACHINE_PAUSE_H
#define NESTVM_MACHINE_PAUSE_H

#include <stddef.h>

#include "machine/quiesce.h"
#include "machine/runner.h"

/* Fill q for the machine r runs (after its devices exist, e.g. in the
 * on_ready hook). 0 or -errno with a message. */
int machine_pause_setup(struct machine_quiesce *q, struct runner *r, char *err, size_t errlen);

#endif
