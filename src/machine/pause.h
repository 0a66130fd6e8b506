/* The quiesce point of a running machine (a struct runner): its vCPUs, its
 * I/O loop and the units of the board's devices that have threads of
 * their own or are fed by one. The board (x86/platform.c) still has fixed
 * device slots; once it holds a list of (device_class, device) pairs, the
 * loop in machine_pause_setup becomes one machine_quiesce_add_class per
 * device. */
#ifndef NESTVM_MACHINE_PAUSE_H
#define NESTVM_MACHINE_PAUSE_H

#include <stddef.h>

#include "machine/quiesce.h"
#include "machine/runner.h"

/* Fill q for the machine r runs (after its devices exist, e.g. in the
 * on_ready hook). 0 or -errno with a message. */
int machine_pause_setup(struct machine_quiesce *q, struct runner *r, char *err, size_t errlen);

#endif
