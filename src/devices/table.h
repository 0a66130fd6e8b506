/* The device table: every device class nestvm has, in board order. The
 * board (x86/platform.c) creates the board devices, then the configured
 * ones, in this order, so PCI slots go to disks, then NICs, then the rng.
 * Adding a device = its file(s) in hw/ or virtio/ and one entry here.
 *
 * Read only; any thread. */
#ifndef NESTVM_DEVICES_TABLE_H
#define NESTVM_DEVICES_TABLE_H

#include <stddef.h>

#include "vmm/device.h"

extern const struct device_class *const device_table[];
extern const size_t device_table_len;

/* The position of a class in the table (its board order); -1 unknown. */
int device_table_index(const struct device_class *cls);

/* Look-ups; NULL when none. */
const struct device_class *device_find_name(const char *name);        /* "virtio-net" */
const struct device_class *device_find_option(const char *opt);       /* "disk" */
const struct device_class *device_find_modifier(const char *opt);     /* "mac" */
const struct device_class *device_find_json_key(const char *key);     /* "nics" */

#endif
