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

/* `nestvm set NAME`: only the fields whose has_ flag is set change. Device
 * options replace the whole list of their kind: any --disk replaces the
 * disks (--no-disks empties it), any --nic (with --mac, --forward, ...)
 * replaces the NICs (--no-nics). */
struct set_options {
	bool has_cpus, has_memory, has_nested, has_max_depth, has_rng;
	unsigned int cpus;
	uint64_t memory;
	bool nested;
	unsigned int max_depth;      /* 0: no limit ("none") */
	bool rng;
	const char *kernel;          /* NULL: unchanged */
	const char *initrd;          /* NULL: unchanged; "none": remove */
	const char *cmdline;         /* NULL: unchanged */
	bool set_disks, set_nics;
	struct run_options dev;      /* the new disks / NICs */
	bool help;
};

int options_parse_set(int argc, char **argv, struct set_options *s, char *err, size_t errlen);
const char *options_set_usage(void);

/* Shared by the parsers of run, create and set (options.c). */
int options_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int options_parse_uint(const char *opt, const char *arg, unsigned long min, unsigned long max,
		       unsigned int *out, char *err, size_t errlen);
int options_parse_memory(const char *arg, uint64_t *mem, char *err, size_t errlen);
const char *options_bad_name(int c, char **argv, const char *shortopts, char name[3]);
/* One device option: c is 'D' --disk, 'N' --nic, 'M' --mac, 'F' --forward,
 * 'S' --mac-spoofing, 'A' --allow-mac. */
int options_parse_device(struct run_options *o, int c, const char *arg, char *err,
			 size_t errlen);

#endif
