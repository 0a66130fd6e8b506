/* Fuzz target: the 16550A UART (src/hw/serial.c) driven by guest port
 * accesses and host input, as a guest and an operator would. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "hw/serial.h"

static void irq_line(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	if (irq != SERIAL_COM1_IRQ || (level != 0 && level != 1))
		abort();
}

static void out(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	if (len == 0 || len > 4096)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct serial8250 s;
	struct fuzz_access a;

	serial_init(&s, SERIAL_COM1_IRQ, irq_line, NULL, out, NULL);
	while (fuzz_next_access(&data, &size, &a)) {
		if (a.offset & 0x8000)   /* host input instead of a port access */
			(void)serial_rx_push(&s, a.data, a.offset & 7);
		else
			serial_io(&s, a.offset & 7, a.data, a.len, a.is_write);
	}
	serial_destroy(&s);
	return 0;
}
