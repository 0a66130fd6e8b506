/* Command-line options of `nestvm run` (and, later, of `create` and `set`).
 * Parsing is pure: no files are opened here, so it is unit-tested as is. */
#ifndef NESTVM_CLI_OPTIONS_H
#define NESTVM_CLI_OPTIONS_H

#include <getopt.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/vmconfig.h"

struct run_options {
	struct vm_config cfg;  /* owned: options_free() */
	int verbosity;        /* 0 normal, 1 -v, 2 -vv; -1 quiet */
	const char *restore_dir; /* --restore DIR: start from a snapshot; NULL: boot */
	bool restore_eager;   /* --restore-eager */
	bool help;
};

/* Parse `run` options (argv[0] is the command name) into o->cfg, checked
 * by vmconfig_check(). On error returns -EINVAL and leaves a one-line
 * message in err. Call options_free() afterwards in every case. */
int options_parse_run(int argc, char **argv, struct run_options *o, char *err, size_t errlen);
void options_free(struct run_options *o);

/* Usage text of `nestvm run`. */
const char *options_run_usage(void);

/* `nestvm set NAME`: only what is named changes. Device options replace
 * the whole list of their class: any --disk replaces the disks
 * (--no-disks empties it), any --nic (with --mac, --forward, ...) replaces
 * the NICs (--no-nics), --rng on|off. */
struct set_options {
	bool has_cpus, has_memory, has_nested, has_max_depth;
	unsigned int cpus;
	uint64_t memory;
	bool nested;
	unsigned int max_depth;      /* 0: no limit ("none") */
	const char *kernel;          /* NULL: unchanged */
	const char *initrd;          /* NULL: unchanged; "none": remove */
	const char *cmdline;         /* NULL: unchanged */
	/* The classes whose devices are replaced by those of dev. */
	unsigned int n_replace;
	const struct device_class *replace[VMCFG_MAX_DEVICES];
	struct vm_config dev;        /* only its devices are used */
	bool help;
};

int options_parse_set(int argc, char **argv, struct set_options *s, char *err, size_t errlen);
void options_set_free(struct set_options *s);
const char *options_set_usage(void);

/* Apply s to c (paths of new kernels, initrds and devices made absolute);
 * `what` names the changes ("vCPUs, memory"). 0 or -errno with a message;
 * c is checked (vmconfig_check) before 0 is returned. */
int options_set_apply(struct vm_config *c, const struct set_options *s, char *what,
		      size_t wlen, char *err, size_t errlen);

/* Shared by the parsers of run, create and set (options.c). */
int options_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int options_parse_uint(const char *opt, const char *arg, unsigned long min, unsigned long max,
		       unsigned int *out, char *err, size_t errlen);
int options_parse_memory(const char *arg, uint64_t *mem, char *err, size_t errlen);
const char *options_bad_name(int c, char **argv, const char *shortopts, char name[3]);

/* Device options come from the device table: each class's cli_option and
 * cli_modifiers. OPT_DEVICE_BASE + i is the getopt value of the i-th
 * entry options_device_longopts() writes. */
#define OPT_DEVICE_BASE 0x1000
#define OPT_DEVICE_MAX  32
/* Append the device options to longopts at *n (room for OPT_DEVICE_MAX);
 * `flag_arg`: a cli_flag option takes an argument (set's on|off). */
void options_device_longopts(struct option *longopts, size_t *n, bool flag_arg);
/* The name of the device option with getopt value c, or NULL. */
const char *options_device_name(int c);
/* One device option (its name without "--") into c: a class's option
 * adds a device, a modifier changes the last of its class (or a default
 * one it adds first). -EINVAL with a message. */
int options_device(struct vm_config *c, const char *opt, const char *arg, char *err,
		   size_t errlen);

#endif
