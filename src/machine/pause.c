/* The quiesce units of the board's devices (see pause.h). */
#include "machine/pause.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int machine_pause_setup(struct machine_quiesce *q, struct runner *r, char *err, size_t errlen)
{
	struct platform *p = &r->plat;
	int e = 0;

	machine_quiesce_init(q, &r->vm, &p->loop);
	/* Every device whose class has a quiesce hook (a backend thread, or
	 * input fed by another thread): the UART, virtio-net's slirp thread.
	 * The others work on the vCPU threads or the I/O loop, which
	 * machine_quiesce parks itself. */
	for (unsigned int i = 0; e == 0 && i < p->n_devices; i++)
		e = machine_quiesce_add_class(q, p->devices[i].cls, p->devices[i].dev);
	if (e)
		snprintf(err, errlen, "cannot set up the quiesce point: %s", strerror(-e));
	return e;
}
