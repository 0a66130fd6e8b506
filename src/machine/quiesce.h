/* The quiesce point: one call that stops everything that could write guest
 * memory or device state, and one that lets it all go on.
 *
 * machine_quiesce() parks, in this order:
 *   1. the vCPUs (vm_pause: each leaves KVM_RUN and sleeps on ctl_cond);
 *   2. the I/O loop (evloop_park: the handler it is in returns first, then
 *      it sleeps; virtqueue kicks and backend fds wait, level-triggered);
 *   3. every unit with a thread of its own or fed by one, in the order
 *      added (a device class's quiesce hook: virtio-net's slirp thread,
 *      the UART's input from the console threads).
 * It returns once all of them are parked, so until machine_resume() no
 * guest instruction runs, no device handler runs and no backend thread
 * queues anything. machine_resume() undoes it in reverse order. A step
 * that fails undoes the steps before it.
 *
 * The units come from the board: for each device it created, its class's
 * quiesce/resume (machine_quiesce_add_class, which skips a class with no
 * quiesce hook) or any pair of functions (machine_quiesce_add).
 *
 * Threads: any thread but a vCPU's, the I/O loop's or a unit's own; one
 * caller at a time (the VM process's main thread). */
#ifndef NESTVM_MACHINE_QUIESCE_H
#define NESTVM_MACHINE_QUIESCE_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/device.h"
#include "vmm/evloop.h"
#include "vmm/vm.h"

#define QUIESCE_MAX_UNITS 40

struct quiesce_unit {
	const char *name;
	void (*quiesce)(void *dev);
	void (*resume)(void *dev);
	void *dev;
};

struct machine_quiesce {
	struct vm *vm;               /* its vCPUs; NULL: none (tests) */
	struct evloop *loop;         /* the I/O loop; NULL: none */
	unsigned int n_units;
	struct quiesce_unit units[QUIESCE_MAX_UNITS];
	bool quiesced;
	unsigned long count;         /* completed quiesces */
};

void machine_quiesce_init(struct machine_quiesce *q, struct vm *vm, struct evloop *loop);
/* 0; -EINVAL with NULL hooks; -ENOSPC beyond QUIESCE_MAX_UNITS. */
int machine_quiesce_add(struct machine_quiesce *q, const char *name, void (*quiesce)(void *),
			void (*resume)(void *), void *dev);
/* A device of class `cls`: added when the class has a quiesce hook (its
 * resume must be there too: -EINVAL otherwise), skipped (0) when not. */
int machine_quiesce_add_class(struct machine_quiesce *q, const struct device_class *cls,
			      void *dev);

/* Park everything (see above). 0; -EALREADY when quiesced already;
 * -ECANCELED when the VM is stopping; -ETIMEDOUT when the vCPUs
 * (VM_PAUSE_TIMEOUT_MS) or the I/O loop (EVLOOP_PARK_TIMEOUT_MS) did not
 * park in time; message in err. Nothing stays parked on failure. */
int machine_quiesce(struct machine_quiesce *q, char *err, size_t errlen);
/* Units in reverse order, then the I/O loop, then the vCPUs. 0;
 * -EALREADY when not quiesced. */
int machine_resume(struct machine_quiesce *q);
bool machine_is_quiesced(const struct machine_quiesce *q);

#endif
