/* Command-line options of `nestvm run` (and, later, of `create` and `set`).
 * Parsing is pure: no files are opened here, so it is unit-tested as is. */
#ifndef NESTVM_CLI_OPTIONS_H
#define NESTVM_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/blk.h"
#include "virtio/net.h"

#define OPT_MEMORY_MIN      (32ULL << 20)   /* 32 MiB */
#define OPT_MEMORY_MAX      (1ULL << 40)    /* 1 TiB */
#define OPT_MEMORY_DEFAULT  (512ULL << 20)
#define OPT_CPUS_MAX        255
#define OPT_MAX_DEPTH_MAX   64
#define OPT_MAX_DISKS       8
#define OPT_MAX_NICS        4
#define OPT_CMDLINE_DEFAULT "console=ttyS0"

struct run_options {
	const char *kernel;
	const char *initrd;   /* NULL: none */
	const char *cmdline;
	unsigned int cpus;
	uint64_t memory;      /* bytes */
	bool nested;          /* expose VMX/SVM to the guest */
	bool rng;             /* a virtio-rng device */
	unsigned int n_disks;
	struct blk_config disks[OPT_MAX_DISKS];
	unsigned int n_nics;
	struct net_config nics[OPT_MAX_NICS];
	unsigned int max_depth; /* levels the guest and its descendants may span; 0: no limit */
	int verbosity;        /* 0 normal, 1 -v, 2 -vv; -1 quiet */
	bool help;
};

/* "512", "512M", "512MiB", "2G", "1.5G" are sizes; a plain number is MiB.
 * Returns 0, or -EINVAL (not a size) / -ERANGE (overflows). */
int options_parse_size(const char *s, uint64_t *bytes);

/* Format a byte count as "512 MiB" / "1.5 GiB" into buf. */
void options_format_size(uint64_t bytes, char *buf, size_t len);

/* Parse `run` options (argv[0] is the command name). On error returns -EINVAL
 * and leaves a one-line message in err. */
int options_parse_run(int argc, char **argv, struct run_options *o, char *err, size_t errlen);

/* Usage text of `nestvm run`. */
const char *options_run_usage(void);

#endif
