/* One VM configuration: what `nestvm run` parses, `create` stores in the
 * registry, `set` changes and the board (x86/platform.c) builds. It owns
 * its strings; its limits and its validation live here and nowhere else.
 *
 * Devices are a list of (class, configuration object): the class comes
 * from the device table (src/devices/), the object is the class's own
 * JSON, checked by the class's config_check. Nothing here names a
 * particular device: a new device class needs no change in this file.
 *
 * Thread safety: none; a configuration is built, then read.
 */
#ifndef NESTVM_CONFIG_VMCONFIG_H
#define NESTVM_CONFIG_VMCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmm/device.h"

#define VMCFG_NAME_MAX       63            /* characters */
#define VMCFG_PATH_MAX       4096
#define VMCFG_CMDLINE_MAX    2048
#define VMCFG_MEMORY_MIN     (32ULL << 20) /* 32 MiB */
#define VMCFG_MEMORY_MAX     (1ULL << 40)  /* 1 TiB */
#define VMCFG_MEMORY_DEFAULT (512ULL << 20)
#define VMCFG_CPUS_MAX       255
#define VMCFG_MAX_DEPTH_MAX  64
#define VMCFG_MAX_DEVICES    32
#define VMCFG_CMDLINE_DEFAULT "console=ttyS0"

struct vm_device_config {
	const struct device_class *cls;
	json_t *cfg;                 /* owned; NULL for a cli_flag class */
};

struct vm_config {
	char *name;                  /* NULL for a foreground `run` */
	char *kernel;                /* absolute once stored */
	char *initrd;                /* NULL: none */
	char *cmdline;
	unsigned int cpus;
	uint64_t memory;             /* bytes */
	bool nested;                 /* expose VMX/SVM */
	unsigned int max_depth;      /* 0: no limit */
	unsigned int n_devices;
	struct vm_device_config devices[VMCFG_MAX_DEVICES];  /* in table order, then in the order given */
};

#endif
