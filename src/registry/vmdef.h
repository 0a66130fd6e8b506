/* A VM definition: everything `nestvm create` records and `start` boots
 * from. It owns its strings (unlike struct run_options, which points into
 * argv), converts to and from run options and JSON, and is what the
 * registry stores. */
#ifndef NESTVM_REGISTRY_VMDEF_H
#define NESTVM_REGISTRY_VMDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli/options.h"

#define VMDEF_NAME_MAX    63     /* characters */
#define VMDEF_PATH_MAX    4096
#define VMDEF_CMDLINE_MAX 2048

struct vm_def {
	char name[VMDEF_NAME_MAX + 1];
	char kernel[VMDEF_PATH_MAX];   /* absolute */
	char initrd[VMDEF_PATH_MAX];   /* absolute; "" = none */
	char cmdline[VMDEF_CMDLINE_MAX];
	unsigned int cpus;
	uint64_t memory;               /* bytes */
	bool nested;
	unsigned int max_depth;        /* 0 = no limit */
	bool rng;
	unsigned int n_disks;
	struct blk_config disks[OPT_MAX_DISKS];   /* paths absolute */
	unsigned int n_nics;
	struct net_config nics[OPT_MAX_NICS];
};

/* A VM name: 1 to 63 characters of [A-Za-z0-9._-], starting with a letter
 * or digit (it names files and sockets). 0, or -EINVAL with a message. */
int vmdef_check_name(const char *name, char *err, size_t errlen);

/* Copy parsed options into a definition. Relative paths are made absolute
 * against the current directory (the VM starts later, from elsewhere); the
 * files must exist. 0, or -errno with a message naming the file. */
int vmdef_from_options(struct vm_def *d, const char *name, const struct run_options *o,
		       char *err, size_t errlen);

/* The absolute path of an existing regular file (or block device when
 * block_ok) into out; `what` ("kernel", "disk") names it in messages.
 * 0, or -errno with a message. Used for every path a definition stores. */
int vmdef_resolve_path(const char *what, const char *path, char *out, size_t outlen,
		       bool block_ok, char *err, size_t errlen);

/* Fill run options from a definition (o's strings point into d). */
void vmdef_to_options(const struct vm_def *d, struct run_options *o);

/* JSON (the shape `nestvm show` prints under "config", and the API):
 * {"name","kernel","initrd"|null,"cmdline","cpus","memory_bytes","memory",
 *  "nested","max_depth"|null,"rng","disks":[{"path","readonly"}],
 *  "nics":[{"backend":"user"|"tap","tap":NAME|null,"mac","mac_spoofing",
 *           "allowed_macs":[...],"forwards":[{"proto":"tcp","host_port","guest_port"}]}]} */
json_t *vmdef_to_json(const struct vm_def *d);
/* The reverse, validating every field (types, ranges, MACs). 0 or -EINVAL. */
int vmdef_from_json(const json_t *j, struct vm_def *d, char *err, size_t errlen);

#endif
