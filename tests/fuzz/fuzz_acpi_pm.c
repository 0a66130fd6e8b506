/* Fuzz target: the ACPI fixed hardware (src/hw/acpi_pm.c: PM1a event and
 * control, the reset register, the power button) on guest port accesses. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "hw/acpi_pm.h"

static void stop(void *opaque, enum vm_stop_reason reason)
{
	(void)opaque;
	if (reason != VM_STOP_POWEROFF && reason != VM_STOP_REBOOT)
		abort();
}

static void sci(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	(void)irq;
	if (level != 0 && level != 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acpi_pm pm;
	struct fuzz_access a;

	acpi_pm_init(&pm, stop, NULL);
	acpi_pm_set_sci(&pm, sci, NULL);
	while (fuzz_next_access(&data, &size, &a)) {
		if (a.offset & 0x8000)
			acpi_pm_power_button(&pm);
		else
			acpi_pm_io(&pm, a.offset % ACPI_PM_LEN, a.data, a.len, a.is_write);
	}
	acpi_pm_destroy(&pm);
	return 0;
}
