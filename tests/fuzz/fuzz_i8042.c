/* Fuzz target: the i8042 (src/hw/i8042.c) on guest port accesses to its
 * data (0x60) and command (0x64) ports. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"
#include "hw/i8042.h"

static void stop(void *opaque, enum vm_stop_reason reason)
{
	(void)opaque;
	(void)reason;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct i8042 k;
	struct fuzz_access a;

	i8042_init(&k, stop, NULL);
	while (fuzz_next_access(&data, &size, &a)) {
		if (a.offset & 1)
			i8042_command_io(&k, 0, a.data, a.len, a.is_write);
		else
			i8042_data_io(&k, 0, a.data, a.len, a.is_write);
	}
	i8042_destroy(&k);
	return 0;
}
