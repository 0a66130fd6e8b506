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

/* A fresh configuration with the defaults of `nestvm run`: no name, no
 * kernel, cmdline "console=ttyS0", 1 vCPU, 512 MiB, no devices. */
void vmconfig_init(struct vm_config *c);
/* Free what c owns and zero it (init it again to reuse it). */
void vmconfig_free(struct vm_config *c);
/* A deep copy into dst (not freed first). 0 or -ENOMEM (dst freed). */
int vmconfig_copy(struct vm_config *dst, const struct vm_config *src);
/* Replace a string field (*field freed; NULL allowed). 0 or -ENOMEM. */
int vmconfig_set_string(char **field, const char *value);

/* Add one device, in table order (after the devices of its class and of
 * classes before it). cfg is taken (also on failure). -EINVAL with a
 * message when its class already has max_count or the list is full. */
int vmconfig_add_device(struct vm_config *c, const struct device_class *cls, json_t *cfg,
			char *err, size_t errlen);
/* Remove every device of a class. */
void vmconfig_remove_class(struct vm_config *c, const struct device_class *cls);
unsigned int vmconfig_count(const struct vm_config *c, const struct device_class *cls);
/* The last device of a class, or NULL. */
struct vm_device_config *vmconfig_last(struct vm_config *c, const struct device_class *cls);

/* A VM name: 1 to 63 characters of [A-Za-z0-9._-], starting with a letter
 * or digit (it names files and sockets). 0, or -EINVAL with a message. */
int vmconfig_check_name(const char *name, char *err, size_t errlen);

/* Every limit: the name (when set), the path and command-line lengths,
 * vCPUs, memory, depth, the devices' counts (their class's max_count) and
 * each device's configuration (its class's config_check). 0 or -EINVAL
 * with a message naming the field. */
int vmconfig_check(const struct vm_config *c, char *err, size_t errlen);

/* The absolute path of an existing regular file (or block device when
 * block_ok) into *out (malloc'ed); `what` ("kernel", "disk 1") names it in
 * messages. 0, or -errno with a message. The one rule for every path a
 * stored definition holds. */
int vmconfig_resolve_path(const char *what, const char *path, char **out, bool block_ok,
			  char *err, size_t errlen);
/* Make the kernel, the initrd and every device's config_path_key absolute
 * (vmconfig_resolve_path): a stored VM starts later, from elsewhere. */
int vmconfig_resolve_paths(struct vm_config *c, char *err, size_t errlen);
/* The devices' paths only (set's new disks). */
int vmconfig_resolve_device_paths(struct vm_config *c, char *err, size_t errlen);

/* JSON (what `nestvm show` prints under "config", and the registry
 * stores): {"name","kernel","initrd"|null,"cmdline","cpus","memory_bytes",
 * "memory" ("1.5 GiB"),"nested","max_depth"|null, then one key per device
 * class with a json_key, in table order: a list of the devices'
 * configuration objects, or for a cli_flag class a boolean}. */
json_t *vmconfig_to_json(const struct vm_config *c);
/* The reverse, for a stored definition (paths must be absolute), checking
 * every field; c is overwritten (not freed first) and on error left zeroed. 0 or -EINVAL with a message. */
int vmconfig_from_json(const json_t *j, struct vm_config *c, char *err, size_t errlen);

/* "512", "512M", "512MiB", "2G", "1.5G" are sizes; a plain number is MiB.
 * 0, or -EINVAL (not a size) / -ERANGE (overflows). (size.c) */
int vmconfig_parse_size(const char *s, uint64_t *bytes);
/* A byte count as "512 MiB" / "1.5 GiB". */
void vmconfig_format_size(uint64_t bytes, char *buf, size_t len);

#endif
