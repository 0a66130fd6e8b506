/* The quiesce point (see quiesce.h). */
#include "machine/quiesce.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/log.h"

void machine_quiesce_init(struct machine_quiesce *q, struct vm *vm, struct evloop *loop)
{
	memset(q, 0, sizeof(*q));
	q->vm = vm;
	q->loop = loop;
}

int machine_quiesce_add(struct machine_quiesce *q, const char *name, void (*quiesce)(void *),
			void (*resume)(void *), void *dev)
{
	if (!quiesce || !resume)
		return -EINVAL;
	if (q->n_units >= QUIESCE_MAX_UNITS)
		return -ENOSPC;
	q->units[q->n_units++] = (struct quiesce_unit){
		.name = name ? name : "?", .quiesce = quiesce, .resume = resume, .dev = dev,
	};
	return 0;
}

int machine_quiesce_add_class(struct machine_quiesce *q, const struct device_class *cls,
			      void *dev)
{
	if (!cls->quiesce)
		return 0;
	return machine_quiesce_add(q, cls->name, cls->quiesce, cls->resume, dev);
}

int machine_quiesce(struct machine_quiesce *q, char *err, size_t errlen)
{
	int r;

	if (q->quiesced) {
		snprintf(err, errlen, "the VM is paused already");
		return -EALREADY;
	}
	if (q->vm) {
		r = vm_pause(q->vm);
		if (r) {
			snprintf(err, errlen, "cannot park the vCPUs: %s",
				 r == -ECANCELED ? "the VM is stopping" :
				 r == -ETIMEDOUT ? "they did not stop in time" : strerror(-r));
			return r;
		}
	}
	if (q->loop) {
		r = evloop_park(q->loop, EVLOOP_PARK_TIMEOUT_MS);
		if (r) {
			snprintf(err, errlen, "cannot park the I/O loop: %s",
				 r == -ETIMEDOUT ? "a device handler did not return in time" :
				 strerror(-r));
			if (q->vm)
				vm_resume(q->vm);
			return r;
		}
	}
	for (unsigned int i = 0; i < q->n_units; i++) {
		log_debug("quiesce: %s", q->units[i].name);
		q->units[i].quiesce(q->units[i].dev);
	}
	q->quiesced = true;
	q->count++;
	return 0;
}

int machine_resume(struct machine_quiesce *q)
{
	if (!q->quiesced)
		return -EALREADY;
	for (unsigned int i = q->n_units; i-- > 0;) {
		log_debug("resume: %s", q->units[i].name);
		q->units[i].resume(q->units[i].dev);
	}
	if (q->loop)
		evloop_unpark(q->loop);
	if (q->vm)
		vm_resume(q->vm);
	q->quiesced = false;
	return 0;
}

bool machine_is_quiesced(const struct machine_quiesce *q)
{
	return q->quiesced;
}
