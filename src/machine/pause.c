/* The quiesce units of the board's devices (see pause.h). */
#include "machine/pause.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int machine_pause_setup(struct machine_quiesce *q, struct runner *r, char *err, size_t errlen)
{
	struct platform *p = &r->plat;
	int e;

	machine_quiesce_init(q, &r->vm, &p->loop);
	/* The UART: the console threads push host input into it. */
	e = machine_quiesce_add_class(q, &serial_class, &p->serial);
	/* virtio-net: the slirp thread of a user-mode NIC. virtio-blk and
	 * virtio-rng work on the I/O loop alone, the i8042 and ACPI PM on the
	 * vCPU threads (the power button is pressed by the VM process's main
	 * thread, which is the one quiescing). */
	for (unsigned int i = 0; e == 0 && i < PLATFORM_MAX_NICS; i++)
		if (p->nics[i])
			e = machine_quiesce_add_class(q, &virtio_net_class, p->nics[i]);
	if (e)
		snprintf(err, errlen, "cannot set up the quiesce point: %s", strerror(-e));
	return e;
}
