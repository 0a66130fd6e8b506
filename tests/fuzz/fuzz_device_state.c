/* Fuzz target: device states from a snapshot or a migration stream are
 * hostile input. The input picks a board device class (serial, i8042,
 * acpi-pm, pci-host) or a virtqueue, and the rest is a state to restore:
 * of the class's size or not, of its version or another. A restore either
 * accepts it or refuses it with a message and leaves the device exactly as
 * it was (its saved bytes before and after must match). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hw/acpi_pm.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "hw/serial.h"
#include "virtio/virtqueue.h"
#include "vmm/device.h"

static void irq_line(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	(void)irq;
	if (level != 0 && level != 1)
		abort();
}

static void stop(void *opaque, enum vm_stop_reason reason)
{
	(void)opaque;
	(void)reason;
}

static void out(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
}

/* restore `in` into dev; a refusal must change nothing. */
static void try_restore(const struct device_class *c, void *dev, const uint8_t *in, size_t n,
			uint32_t version)
{
	uint8_t *before = malloc(c->state_size), *after = malloc(c->state_size);
	char err[512] = "";

	if (!before || !after)
		abort();
	c->save(dev, before);
	if (c->restore(dev, in, n, version, err, sizeof(err)) != 0) {
		if (!err[0])
			abort();             /* a refusal says why */
		c->save(dev, after);
		if (memcmp(before, after, c->state_size))
			abort();             /* ... and changes nothing */
	}
	free(before);
	free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t version;
	uint8_t which;

	if (size < 2)
		return 0;
	which = data[0] % 5;
	/* mostly the class's own version, so the fields get checked */
	version = data[1] < 240 ? 1 : data[1];
	data += 2;
	size -= 2;
	switch (which) {
	case 0: {
		struct serial8250 *s = calloc(1, sizeof(*s));
		serial_init(s, SERIAL_COM1_IRQ, irq_line, NULL, out, NULL);
		try_restore(&serial_class, s, data, size, version);
		serial_destroy(s);
		free(s);
		break;
	}
	case 1: {
		struct i8042 k;
		i8042_init(&k, stop, NULL);
		try_restore(&i8042_class, &k, data, size, version);
		i8042_destroy(&k);
		break;
	}
	case 2: {
		struct acpi_pm pm;
		acpi_pm_init(&pm, stop, NULL);
		acpi_pm_set_sci(&pm, irq_line, NULL);
		try_restore(&acpi_pm_class, &pm, data, size, version);
		acpi_pm_destroy(&pm);
		break;
	}
	case 3: {
		struct pci_bus *bus = calloc(1, sizeof(*bus));
		pci_bus_init(bus);
		try_restore(&pci_host_class, bus, data, size, version);
		pci_bus_destroy(bus);
		free(bus);
		break;
	}
	default: {
		/* a virtqueue in 64 KiB of guest RAM */
		uint8_t *ram = calloc(1, 65536);
		struct guest_mem mem;
		struct virtqueue vq;
		struct vq_state st;
		char err[256];

		guest_mem_init_layout(&mem, ram, 65536);
		memset(&vq, 0, sizeof(vq));
		vq.mem = &mem;
		vq_reset(&vq);
		memset(&st, 0, sizeof(st));
		memcpy(&st, data, size < sizeof(st) ? size : sizeof(st));
		if (size > sizeof(st))
			memcpy(ram, data + sizeof(st), size - sizeof(st) < 65536 ? size - sizeof(st) : 65536);
		if (vq_check(&vq, &st, 256, "fuzz", err, sizeof(err)) == 0) {
			struct vq_req *req = malloc(sizeof(*req));
			vq_load(&vq, &st);
			/* a restored queue must be safe to use */
			for (int i = 0; i < 8 && vq_pop(&vq, req) == 1; i++)
				vq_push(&vq, req->head, 0);
			free(req);
		}
		free(ram);
		break;
	}
	}
	return 0;
}
