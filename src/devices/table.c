/* The device table (see table.h). */
#include "devices/table.h"

#include <stdbool.h>
#include <string.h>

#include "hw/acpi_pm.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "hw/serial.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"

const struct device_class *const device_table[] = {
	&serial_class,
	&i8042_class,
	&acpi_pm_class,
	&pci_host_class,
	&virtio_blk_class,
	&virtio_net_class,
	&virtio_rng_class,
};

const size_t device_table_len = sizeof(device_table) / sizeof(device_table[0]);

int device_table_index(const struct device_class *cls)
{
	for (size_t i = 0; i < device_table_len; i++)
		if (device_table[i] == cls)
			return (int)i;
	return -1;
}

static bool device_same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

const struct device_class *device_find_name(const char *name)
{
	for (size_t i = 0; i < device_table_len; i++)
		if (device_same(device_table[i]->name, name))
			return device_table[i];
	return NULL;
}

const struct device_class *device_find_option(const char *opt)
{
	for (size_t i = 0; i < device_table_len; i++)
		if (device_same(device_table[i]->cli_option, opt))
			return device_table[i];
	return NULL;
}

const struct device_class *device_find_modifier(const char *opt)
{
	for (size_t i = 0; i < device_table_len; i++)
		for (const char *const *m = device_table[i]->cli_modifiers; m && *m; m++)
			if (device_same(*m, opt))
				return device_table[i];
	return NULL;
}

const struct device_class *device_find_json_key(const char *key)
{
	for (size_t i = 0; i < device_table_len; i++)
		if (device_same(device_table[i]->json_key, key))
			return device_table[i];
	return NULL;
}
